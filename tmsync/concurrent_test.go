package tmsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/manifest"
)

// TestConcurrentRunsOnOneEngine: one Engine, two releases, synced at the same time (and
// a plan of a third meanwhile): each report holds its own release's images only, every
// image arrives, and nothing of one run leaks into the other. Run it with -race
// (make test-race PKGS=./tmsync/ TESTFLAGS='-run Concurrent').
func TestConcurrentRunsOnOneEngine(t *testing.T) {
	w := newWorld(t)
	a := w.push([]releasetest.Image{small("vault/a1", "1.0"), small("vault/a2", "1.0"),
		{Repository: "vault/aidx", Tag: "1.0", Layers: 1, LayerSize: 512, Index: true}}, 1, true)
	b := w.push([]releasetest.Image{small("vault/b1", "2.0"), small("vault/b2", "2.0")}, 2, true)
	c := w.push([]releasetest.Image{small("vault/c1", "3.0")}, 3, true)
	dirA, dirB, dirC := w.release("1.0", a), w.release("2.0", b), w.release("3.0", c)
	// Every run has fetched its attestations before any verifies one: a run that saw
	// another's would reject its own images.
	barrier := &barrierAttestor{Attestor: w.attestor()}
	barrier.wg.Add(3)
	eng := w.engine(dirA, func(c *testConfig) {
		c.attestor = barrier
		c.opts = append(c.opts, WithConcurrency(2))
	}).Engine

	releases := map[string]struct {
		mode   Mode
		dir    string
		images []releasetest.Image
	}{"a": {ModeSync, dirA, a}, "b": {ModeSync, dirB, b}, "c": {ModePlan, dirC, c}}
	reports := map[string]*Report{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, r := range releases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := eng.Run(context.Background(), r.mode, w.rel(r.dir))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			mu.Lock()
			reports[name] = rep
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, r := range releases {
		rep := reports[name]
		if rep == nil {
			continue
		}
		if rep.Mode != r.mode || rep.ExitStatus() != 0 || len(rep.Images) != len(r.images) {
			t.Errorf("%s: mode %s, exit %d, %d images (want %s, 0, %d): %v", name, rep.Mode, rep.ExitStatus(), len(rep.Images), r.mode, len(r.images), rep.ErrorLines())
		}
		want := map[string]bool{}
		for _, im := range r.images {
			want[im.Repository+":"+im.Tag] = true
		}
		for _, im := range rep.Images {
			if !want[im.Dest] {
				t.Errorf("%s: report holds %s, of another run", name, im.Dest)
			}
			wantOutcome := OutcomeCopied
			if r.mode == ModePlan {
				wantOutcome = OutcomePlanned
			}
			if im.Outcome != wantOutcome {
				t.Errorf("%s: %s %s (%s), want %s", name, im.Dest, im.Outcome, im.Reason, wantOutcome)
			}
		}
		if len(rep.Releases) != 1 || rep.Releases[0].Version != fmt.Sprint(r.images[0].Tag) {
			t.Errorf("%s: releases %+v", name, rep.Releases)
		}
	}
	for _, im := range append(a, b...) {
		if got := w.targetDigest(im.Repository, im.Tag); got != im.Digest {
			t.Errorf("%s: target has %q, want %s", im.Repository, got, im.Digest)
		}
	}
	if got := w.targetDigest(c[0].Repository, c[0].Tag); got != "" {
		t.Errorf("the plan copied %s", c[0].Repository)
	}
}

// TestUnknownModeIsAnError: a mode that is not one of the three starts nothing.
func TestUnknownModeIsAnError(t *testing.T) {
	w := newWorld(t)
	e := w.engine(t.TempDir(), nil)
	for _, m := range []Mode{"", "Sync", "copy", "sync "} {
		rep, err := e.Run(context.Background(), m, e.rel)
		var se *StartError
		if rep != nil || !errors.As(err, &se) {
			t.Errorf("mode %q: report %v, error %v; want a *StartError", m, rep, err)
		}
	}
}

// barrierAttestor holds every Prepare until wg is done.
type barrierAttestor struct {
	Attestor
	wg sync.WaitGroup
}

func (b *barrierAttestor) Prepare(ctx context.Context, subjects []attest.Subject) error {
	err := b.Attestor.Prepare(ctx, subjects)
	b.wg.Done()
	b.wg.Wait()
	return err
}

// TestReleaseFolder: a folder already read is used as it is, and plans like its path.
func TestReleaseFolder(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/f1", "1.0"), small("vault/f2", "1.0")}, 4, true)
	dir := w.release("1.0", images)
	e := w.engine(dir, nil)
	folder, err := manifest.Load(dir, manifest.WithVendorRegistry(w.src), manifest.WithPrefix("/tm/"))
	if err != nil {
		t.Fatal(err)
	}
	byFolder, err := e.Engine.Plan(context.Background(), ReleaseFolder(folder))
	if err != nil {
		t.Fatal(err)
	}
	byDir, err := e.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if byFolder.Summary != byDir.Summary || byFolder.ReleaseSHA256 != byDir.ReleaseSHA256 || byFolder.Summary.Planned != 2 {
		t.Errorf("folder %+v %s, dir %+v %s", byFolder.Summary, byFolder.ReleaseSHA256, byDir.Summary, byDir.ReleaseSHA256)
	}
	if _, err := e.Engine.Plan(context.Background(), Release{}); err == nil {
		t.Error("the zero Release planned")
	}
}
