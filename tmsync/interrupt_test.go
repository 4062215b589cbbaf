package tmsync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestInterruptionWording: an image cut short says it was interrupted, and by what when
// the context's cause says (the command line's names the signal), never Go's "context
// canceled"; it stays an ErrInterrupted, classed canceled.
func TestInterruptionWording(t *testing.T) {
	bySignal := errors.New("SIGTERM received")
	for _, c := range []struct {
		cancel func(context.Context) context.Context
		want   string
	}{
		{func(p context.Context) context.Context { ctx, cancel := context.WithCancel(p); cancel(); return ctx }, "interrupted while copying"},
		{func(p context.Context) context.Context {
			ctx, cancel := context.WithCancelCause(p)
			cancel(bySignal)
			return ctx
		}, "interrupted while copying (SIGTERM received)"},
		{func(p context.Context) context.Context {
			ctx, cancel := context.WithDeadline(p, time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}, "interrupted while copying (the run's deadline passed)"},
	} {
		err := interruption(c.cancel(context.Background()), " while copying")
		if err.Error() != c.want || !errors.Is(err, ErrInterrupted) || ClassifyError(err) != CauseCanceled {
			t.Errorf("%q (%s), want %q, an ErrInterrupted classed canceled", err, ClassifyError(err), c.want)
		}
		if strings.Contains(err.Error(), "context") {
			t.Errorf("%q: Go's words", err)
		}
	}
}

// TestInterruptedBeforeCopy: SIGTERM while the attestations are fetched is an
// interruption, not a failure to start: the run returns a report that says so, with every
// image failed as interrupted, for each mode.
func TestInterruptedBeforeCopy(t *testing.T) {
	dir := twoImageRelease(t)
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
				if im.Outcome != OutcomeFailed || im.Reason != ReasonNotStarted || !im.NotStarted() || im.Cause != CauseCanceled {
					t.Errorf("%s: %s (%s, %s), want failed: %s", im.Dest, im.Outcome, im.Reason, im.Cause, ReasonNotStarted)
				}
			}
			// The error log: a line per image that never started, not "copy failed".
			want := []string{
				"ERROR: vault/core:1.0.0: not started: the run was interrupted",
				"ERROR: vault/ledger:1.0.0: not started: the run was interrupted",
				"ERROR: run interrupted: the images not listed as copied or present were not synced",
			}
			if got := rep.ErrorLines(); !slices.Equal(got, want) {
				t.Errorf("error log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// cancellingTarget is a target whose tag lookup is cut by an interruption (SIGINT while
// the target does not answer).
type cancellingTarget struct {
	Target
	cancel context.CancelFunc
}

func (t cancellingTarget) Existing(ctx context.Context, _ string, _ []string) (map[string]digest.Digest, error) {
	t.cancel()
	<-ctx.Done()
	return nil, ctx.Err()
}

// noAttestations is an attestation server that has none.
type noAttestations struct{}

func (noAttestations) Prepare(context.Context, []attest.Subject) error { return nil }
func (noAttestations) Verify(_ context.Context, s attest.Subject) (*Attestation, error) {
	return nil, &attest.RejectedError{Subject: s, NoAttestation: true}
}

// TestInterruptedDuringLookup: an interruption while the target's tags are looked up is
// not a failed lookup: every image is "not started", as the README says of the images an
// interrupted run never reached.
func TestInterruptedDuringLookup(t *testing.T) {
	dir := twoImageRelease(t)
	reg, err := NewRegistryTarget("127.0.0.1:1/mirror", WithTargetInsecure())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := New(cancellingTarget{reg, cancel}, noAttestations{})
	if err != nil {
		t.Fatal(err)
	}
	// Upstream images pinned by digest (the vendor is elsewhere): they pass the attestation
	// step unattested, so the run reaches the lookup.
	rep, err := e.Run(ctx, ModeSync, ReleaseDir(dir, manifest.WithVendorRegistry("vendor.example"), manifest.WithPrefix("/")))
	if err != nil {
		t.Fatalf("run returned %v, want a report of an interrupted run", err)
	}
	for _, im := range rep.Images {
		if im.Reason != ReasonNotStarted || im.Step == "lookup" {
			t.Errorf("%s: step %q, %q; want not started", im.Dest, im.Step, im.Reason)
		}
	}
}

// twoImageRelease writes a release of two images on 127.0.0.1:1, pinned by digest, into a
// new folder, and returns it.
func twoImageRelease(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "1.0.0", Digest: digest.FromString("core").String()},
		{Repository: "vault/ledger", Tag: "1.0.0", Digest: digest.FromString("ledger").String()},
	}
	if _, err := releasetest.WriteRelease(dir, "1.0.0", "127.0.0.1:1", images); err != nil {
		t.Fatal(err)
	}
	return dir
}
