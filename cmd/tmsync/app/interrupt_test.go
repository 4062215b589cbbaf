package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestInterruptExitStatus: a run a signal stopped exits with the shell's status for it
// (130 SIGINT, 143 SIGTERM), its error log has a "not started" line for each image it
// never started, and no Go jargon ("context canceled") reaches the console or the log.
// Stopped in the preflight, it says it was interrupted rather than what the preflight
// was checking.
func TestInterruptExitStatus(t *testing.T) {
	t.Setenv("TM_TOKEN", "tok-interrupt-3f9a")
	dir := t.TempDir()
	rel := filepath.Join(dir, "rel")
	must(t, os.MkdirAll(rel, 0o755))
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "1.0.0", Digest: digest.FromString("core").String()},
		{Repository: "vault/ledger", Tag: "1.0.0", Digest: digest.FromString("ledger").String()},
	}
	if _, err := releasetest.WriteRelease(rel, "1.0.0", "127.0.0.1:1", images); err != nil {
		t.Fatal(err)
	}
	signer, err := attesttest.NewSigner("Vendor")
	must(t, err)
	key, err := signer.ArmoredPublicKey()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "key.pgp"), key, 0o644))
	errorLog := filepath.Join(dir, "sync-error.log")
	base := []string{"tmsync", "sync", "--release-dir", rel, "--target", "registry", "--trg-registry", "127.0.0.1:1",
		"--srcdomain", "127.0.0.1:1", "--trgprefix", "/", "--error-log", errorLog, "--src_attestor", filepath.Join(dir, "key.pgp"), "--src_attestions_address", "http://127.0.0.1:1/occurrences"}
	for _, c := range []struct {
		name      string
		sig       syscall.Signal
		args      []string
		want      int
		wantLines []string
	}{
		{"SIGINT", syscall.SIGINT, []string{"--skip-preflight"}, 130, []string{
			"ERROR: vault/core:1.0.0: not started: the run was interrupted",
			"ERROR: vault/ledger:1.0.0: not started: the run was interrupted",
			"ERROR: run interrupted: the images not listed as copied or present were not synced"}},
		{"SIGTERM", syscall.SIGTERM, []string{"--skip-preflight"}, 143, []string{
			"ERROR: vault/core:1.0.0: not started: the run was interrupted"}},
		{"in the preflight", syscall.SIGTERM, nil, 143, []string{
			"ERROR: could not start: interrupted (SIGTERM received) before the run started: nothing was changed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(Interrupt{Signal: c.sig})
			var out, errOut bytes.Buffer
			code := Run(ctx, append(append([]string{}, base...), c.args...), &out, &errOut)
			logged, _ := os.ReadFile(errorLog)
			if code != c.want {
				t.Errorf("exit %d, want %d\n%s%s", code, c.want, out.String(), errOut.String())
			}
			for _, l := range c.wantLines {
				if !strings.Contains(string(logged), l+"\n") {
					t.Errorf("error log lacks %q:\n%s", l, logged)
				}
			}
			for _, s := range []string{out.String(), errOut.String(), string(logged)} {
				if strings.Contains(s, "context canceled") || strings.Contains(s, "copy failed") {
					t.Errorf("Go's words or a copy that never started said to fail:\n%s", s)
				}
			}
		})
	}
	// A run not interrupted keeps its status (2: bad input), and 0 stays 0.
	if got := interruptStatus(context.Background(), 2); got != 2 {
		t.Errorf("no signal: status %d, want 2", got)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(Interrupt{Signal: syscall.SIGINT})
	if got := interruptStatus(ctx, 0); got != 0 {
		t.Errorf("signal after every image was in place: status %d, want 0", got)
	}
}

// TestNotifyContext: the signal is the context's cause; stop ends the wait without one.
func TestNotifyContext(t *testing.T) {
	ctx, stop := NotifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the signal did not cancel the context")
	}
	if in, ok := context.Cause(ctx).(Interrupt); !ok || in.Signal != syscall.SIGUSR1 || in.ExitStatus() != 128+int(syscall.SIGUSR1) {
		t.Errorf("cause %v, want Interrupt{SIGUSR1}", context.Cause(ctx))
	}
	ctx2, stop2 := NotifyContext(context.Background(), syscall.SIGUSR2)
	stop2()
	stop2() // twice is harmless
	if context.Cause(ctx2) != context.Canceled {
		t.Errorf("after stop: cause %v", context.Cause(ctx2))
	}
}
