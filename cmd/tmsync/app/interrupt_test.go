package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync"
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
	ctx, stop := notifyContext(context.Background(), io.Discard, syscall.SIGUSR1) // NotifyContext's, saying on stderr
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

// lockedBuffer is a bytes.Buffer safe for the signal goroutine's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFirstSignalSaid: the first signal is said at once, before the run winds down (by the
// time the context is cancelled), in one line on stderr: what the run does now (in the
// words of README's Ctrl-C paragraph) and that a second one stops at once. On a terminal,
// the run's status block is taken down for the line and drawn again under it, so that its
// next redraw does not wipe it; a console held by a write that does not end does not
// hold the line back.
func TestFirstSignalSaid(t *testing.T) {
	const winding = "what is copying is cut, nothing more starts, then the report and error log are written"
	const again = "; press Ctrl-C again (a second SIGINT or SIGTERM) to stop at once"
	readme, err := os.ReadFile("../../../README.md")
	must(t, err)
	if line := "`WARNING: SIGINT received: stopping: " + winding + again + ", without them`"; !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), line) {
		t.Errorf("README's Ctrl-C paragraph does not quote the line %s", line)
	}
	dir := t.TempDir()
	a := Args{ErrorLog: filepath.Join(dir, "sync-error.log")}
	t.Cleanup(func() { hardStop.arm(Args{}, nil) })

	// A run with its console on a terminal, an image in flight: the status block is up.
	var screen lockedBuffer // stdout and stderr: one terminal
	console := &Console{W: &screen, Terminal: true, Redactor: tmsync.NewRedactor("")}
	console.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 2})
	console.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/core:1"})
	hardStop.arm(a, console)
	ctx, stop := notifyContext(context.Background(), &screen, syscall.SIGUSR1)
	defer stop()
	drawn := screen.String()
	if !strings.Contains(drawn, "tmsync: 0/2 images done") {
		t.Fatalf("no status block drawn:\n%q", drawn)
	}
	must(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the signal did not cancel the context")
	}
	said := strings.TrimPrefix(screen.String(), drawn) // written by the time the run is told
	want := "WARNING: " + signalName(syscall.SIGUSR1) + " received: stopping: " + winding + again + ", without them\n"
	clear := fmt.Sprintf("\x1b[%dA\r\x1b[J", 2) // the block: the image in flight, the run's line
	if !strings.HasPrefix(said, clear+want) || !strings.Contains(strings.TrimPrefix(said, clear+want), "tmsync: 0/2 images done") {
		t.Errorf("after the signal the screen got\n%q\nwant the block cleared, then\n%q\nthen the block again", said, want)
	}

	// No run (copy, a command line still being read): the line says only how to stop.
	hardStop.arm(Args{}, nil)
	hardStop.mu.Lock()
	hardStop.errorLog = ""
	hardStop.mu.Unlock()
	var out lockedBuffer
	hardStop.firstSignal(syscall.SIGTERM, &out)
	if got := out.String(); got != "WARNING: SIGTERM received: stopping"+again+"\n" {
		t.Errorf("without a run: %q", got)
	}

	// A console whose writer is stuck: the line still comes, within the bound.
	stuck := &Console{W: &out, Redactor: tmsync.NewRedactor("")}
	stuck.mu.Lock()
	defer stuck.mu.Unlock()
	hardStop.arm(a, stuck)
	var late lockedBuffer
	began := time.Now()
	hardStop.firstSignal(syscall.SIGINT, &late)
	if took := time.Since(began); !strings.HasPrefix(late.String(), "WARNING: SIGINT received: stopping: ") || strings.Count(late.String(), "\n") != 1 || took > 2*time.Second {
		t.Errorf("console stuck: %q after %s, want the line within a second", late.String(), took)
	}

	// A stderr nobody reads (its line's write does not end): the console is not held by
	// it. The run's events go on, on its own writer, and it ends; the status block, taken
	// down for the line, is drawn again.
	var runScreen lockedBuffer
	run := &Console{W: &runScreen, Terminal: true, Redactor: tmsync.NewRedactor("")}
	run.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 2})
	run.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/core:1"})
	hardStop.arm(a, run)
	stuckErr := &blockedWriter{release: make(chan struct{})}
	defer close(stuckErr.release)
	began = time.Now()
	drawn = runScreen.String()
	hardStop.firstSignal(syscall.SIGINT, stuckErr)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("stderr stuck: the first signal took %s, want a second at most", took)
	}
	if said := strings.TrimPrefix(runScreen.String(), drawn); !strings.HasPrefix(said, clear) || !strings.Contains(said, "tmsync: 0/2 images done") {
		t.Errorf("stderr stuck: the run's screen got %q, want the block cleared and drawn again", said)
	}
	went := make(chan struct{})
	go func() {
		defer close(went)
		run.Event(tmsync.Event{Kind: tmsync.EventDone, Image: "vault/core:1", Message: "vault/core:1 copied"})
		run.Printf("INFO: sync finished")
		run.finish()
	}()
	select {
	case <-went:
		if got := runScreen.String(); !strings.Contains(got, "INFO: [1/2] vault/core:1 copied\n") || !strings.Contains(got, "INFO: sync finished\n") {
			t.Errorf("the run's console after the signal:\n%q", got)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("stderr stuck: the run's console is held by the first signal's line (events and its end wait for ever)")
	}
}

// blockedWriter is a pipe nobody reads: a Write does not end until release is closed.
type blockedWriter struct{ release chan struct{} }

func (b *blockedWriter) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}
