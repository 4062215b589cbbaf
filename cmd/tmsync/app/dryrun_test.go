package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync"
)

// TestDryRunByMode: --dry-run makes a sync a plan; a verify (which copies nothing) stays a
// verify: as a plan it would pass with images missing, and a --config shared by the
// pipeline's stages that says dry-run: true would open the verify gate. The runs are
// stopped before their first image (a signal already received): the report says the mode
// the run had.
func TestDryRunByMode(t *testing.T) {
	t.Setenv("TM_TOKEN", "tok-dry-run-7b1c")
	dir := t.TempDir()
	rel := filepath.Join(dir, "rel")
	must(t, os.MkdirAll(rel, 0o755))
	images := []releasetest.Image{{Repository: "vault/core", Tag: "1.0.0", Digest: digest.FromString("core").String()}}
	if _, err := releasetest.WriteRelease(rel, "1.0.0", "127.0.0.1:1", images); err != nil {
		t.Fatal(err)
	}
	signer, err := attesttest.NewSigner("Vendor")
	must(t, err)
	key, err := signer.ArmoredPublicKey()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "key.pgp"), key, 0o644))
	report := filepath.Join(dir, "report.json")
	for _, c := range []struct {
		cmd  string
		want tmsync.Mode
	}{{"sync", tmsync.ModePlan}, {"verify", tmsync.ModeVerify}, {"plan", tmsync.ModePlan}} {
		os.Remove(report)
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(Interrupt{Signal: syscall.SIGINT})
		var out, errOut bytes.Buffer
		Run(ctx, []string{"tmsync", c.cmd, "--dry-run", "--skip-preflight", "--release-dir", rel, "--target", "registry",
			"--trg-registry", "127.0.0.1:1", "--srcdomain", "127.0.0.1:1", "--trgprefix", "/", "--error-log", filepath.Join(dir, "e.log"),
			"--report", report, "--src_attestor", filepath.Join(dir, "key.pgp"), "--src_attestions_address", "http://127.0.0.1:1/occurrences"}, &out, &errOut)
		rep, err := tmsync.ReadReport(report)
		if err != nil {
			t.Fatalf("%s --dry-run: %v\n%s%s", c.cmd, err, out.String(), errOut.String())
		}
		if rep.Mode != c.want {
			t.Errorf("%s --dry-run ran as %s, want %s", c.cmd, rep.Mode, c.want)
		}
	}
}
