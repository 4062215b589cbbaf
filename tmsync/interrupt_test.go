package tmsync

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/manifest"
)

// TestForEachStartsNothingAfterCancel: once the run is cancelled, no image waiting for a
// free slot is started.
func TestForEachStartsNothingAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	items := []*item{{}, {}, {}}
	var started atomic.Int32
	forEach(ctx, items, 1, func(context.Context, *item) {
		started.Add(1)
		cancel() // SIGTERM while the first image copies
	})
	if n := started.Load(); n != 1 {
		t.Errorf("%d images started, want 1: images were started after the cancel", n)
	}
}

// cancellingAttestor is interrupted while it fetches the attestations.
type cancellingAttestor struct{ cancel context.CancelFunc }

func (a cancellingAttestor) Prepare(ctx context.Context, _ []attest.Subject) error {
	a.cancel()
	return &attest.UnavailableError{Op: "listing occurrences", Err: ctx.Err()}
}

func (cancellingAttestor) Verify(ctx context.Context, _ attest.Subject) (*Attestation, error) {
	return nil, &attest.UnavailableError{Op: "verifying", Err: ctx.Err()}
}

// TestInterruptedBeforeCopy: SIGTERM while the attestations are fetched is an
// interruption, not a failure to start: the run returns a report that says so, with every
// image failed as interrupted, for each mode.
func TestInterruptedBeforeCopy(t *testing.T) {
	dir := t.TempDir()
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "1.0.0", Digest: digest.FromString("core").String()},
		{Repository: "vault/ledger", Tag: "1.0.0", Digest: digest.FromString("ledger").String()},
	}
	if _, err := releasetest.WriteRelease(dir, "1.0.0", "127.0.0.1:1", images); err != nil {
		t.Fatal(err)
	}
	target, err := NewRegistryTarget("127.0.0.1:1/mirror", WithTargetInsecure())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{ModeSync, ModePlan, ModeVerify} {
		t.Run(string(mode), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e, err := New(target, cancellingAttestor{cancel})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := e.Run(ctx, mode, ReleaseDir(dir, manifest.WithVendorRegistry("127.0.0.1:1"), manifest.WithPrefix("/")))
			if err != nil {
				t.Fatalf("run returned %v, want a report of an interrupted run", err)
			}
			if !rep.Interrupted || rep.ExitStatus() != 1 || rep.Summary.Failed != 2 {
				t.Errorf("interrupted %v, exit %d, summary %+v; want interrupted, exit 1, 2 failed", rep.Interrupted, rep.ExitStatus(), rep.Summary)
			}
			for _, im := range rep.Images {
				if im.Outcome != OutcomeFailed || im.Reason != ErrInterrupted.Error() {
					t.Errorf("%s: %s (%s), want failed: interrupted", im.Dest, im.Outcome, im.Reason)
				}
			}
		})
	}
}
