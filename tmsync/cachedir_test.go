package tmsync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
)

// wantStartError fails unless err is a *StartError matching target and naming dir.
func wantStartError(t *testing.T, err, target error, dir string) {
	t.Helper()
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, target) {
		t.Fatalf("got %v, want a StartError of %v", err, target)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("%q does not name the folder %s", err, dir)
	}
}

// ensureRecorder is a Target that records the repositories a sync ensures (creates or
// reconciles): on ECR, what a refused run must not have touched.
type ensureRecorder struct {
	Target
	mu      sync.Mutex
	ensured []string
}

func (e *ensureRecorder) Ensure(ctx context.Context, repo string, plan bool) (*Repository, error) {
	if !plan {
		e.mu.Lock()
		e.ensured = append(e.ensured, repo)
		e.mu.Unlock()
	}
	return e.Target.Ensure(ctx, repo, plan)
}

// cacheEngine is the world's engine for the release folder dir with WithCacheDir(cache),
// its target wrapped in an ensureRecorder.
func (w *world) cacheEngine(dir, cache string) (testEngine, *ensureRecorder) {
	w.t.Helper()
	target, err := NewRegistryTarget(w.dst+"/tm", WithTargetInsecure())
	if err != nil {
		w.t.Fatal(err)
	}
	rec := &ensureRecorder{Target: target}
	e, err := New(rec, w.attestor(), WithSource(Source{Registry: w.src}), WithInsecure(w.src, w.dst),
		WithRetryBackoff(1), WithCacheDir(cache))
	if err != nil {
		w.t.Fatal(err)
	}
	return testEngine{Engine: e, rel: w.rel(dir)}, rec
}

// TestCacheDirRefusedBeforeAnything: a cache folder that is not a store, has a link in its
// layout, or is used by another run stops a sync with a StartError before anything is
// pushed, and is left as it was.
func TestCacheDirRefusedBeforeAnything(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0")}, 41, true)
	rel := w.release("1.0", images)

	// Not a store: the home folder by a typo, with an ingest/ folder of its own.
	home := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(home, "ingest"), 0o755))
	must(os.WriteFile(filepath.Join(home, "ingest", "draft.txt"), []byte("mine"), 0o644))
	must(os.WriteFile(filepath.Join(home, ".profile"), []byte("PATH=x"), 0o644))
	before := testbed.Listing(t, home)
	e, rec := w.cacheEngine(rel, home)
	_, err := e.Sync(ctx)
	wantStartError(t, err, blobstore.ErrNotStore, home)
	if len(rec.ensured) != 0 {
		t.Fatalf("a sync refused for its cache folder ensured repositories %v", rec.ensured)
	}
	if got := testbed.Listing(t, home); got != before {
		t.Fatalf("the refused folder was changed:\n%s\nthen\n%s", before, got)
	}
	if d := w.targetDigest("vault/a", "1.0"); d != "" {
		t.Fatal("a sync refused for its cache folder pushed an image")
	}

	// A store another run is using: refused until that run closes it.
	cache := filepath.Join(t.TempDir(), "cache")
	holder, err := blobstore.Open(blobstore.Options{Dir: cache})
	must(err)
	e, rec = w.cacheEngine(rel, cache)
	_, err = e.Sync(ctx)
	wantStartError(t, err, blobstore.ErrLocked, cache)
	if len(rec.ensured) != 0 {
		t.Fatalf("a sync refused for a locked cache folder ensured repositories %v", rec.ensured)
	}
	if !strings.Contains(err.Error(), "another tmsync run") {
		t.Fatalf("%q does not say another run uses the folder", err)
	}
	if d := w.targetDigest("vault/a", "1.0"); d != "" {
		t.Fatal("a sync refused for a locked cache folder pushed an image")
	}
	// Plan uses no store: not refused.
	if _, err := w.engine(rel, func(c *testConfig) { c.opts = append(c.opts, WithCacheDir(cache)) }).Plan(ctx); err != nil {
		t.Fatalf("plan with a cache folder in use: %v", err)
	}
	must(holder.Close())
	e, rec = w.cacheEngine(rel, cache)
	rep, err := e.Sync(ctx)
	if err != nil || rep.Summary.Copied != 1 || len(rec.ensured) != 1 {
		t.Fatalf("sync once the folder is free: %v %+v, ensured %v", err, rep, rec.ensured)
	}
	// The run released it: a rerun (nothing to copy) and an Open after it both work.
	if _, err := e.Sync(ctx); err != nil {
		t.Fatalf("a rerun on the same folder: %v", err)
	}
	s, err := blobstore.Open(blobstore.Options{Dir: cache})
	if err != nil {
		t.Fatalf("the folder is still locked after the runs: %v", err)
	}
	must(s.Close())

	// A link in the layout: the clear-out of ingest/ would follow it.
	out := t.TempDir()
	must(os.WriteFile(filepath.Join(out, "victim"), []byte("not yours"), 0o644))
	must(os.RemoveAll(filepath.Join(cache, "ingest")))
	must(os.Symlink(out, filepath.Join(cache, "ingest")))
	images2 := w.push([]releasetest.Image{small("vault/b", "2.0")}, 43, true)
	e, rec = w.cacheEngine(w.release("2.0", images2), cache)
	_, err = e.Sync(ctx)
	wantStartError(t, err, blobstore.ErrUnsafeLayout, cache)
	if len(rec.ensured) != 0 {
		t.Fatalf("a sync refused for a link in its cache folder ensured repositories %v", rec.ensured)
	}
	if b, err := os.ReadFile(filepath.Join(out, "victim")); err != nil || string(b) != "not yours" {
		t.Fatalf("a file behind the link: %q %v", b, err)
	}
	if d := w.targetDigest("vault/b", "2.0"); d != "" {
		t.Fatal("a sync refused for a link in its cache folder pushed an image")
	}
}

// TestExportFolderInUse: an export into a folder another export is writing is refused
// (a StartError, nothing written), and works once that one is done.
func TestExportFolderInUse(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0")}, 45, true)
	rel := w.rel(w.release("1.0", images))
	dir := filepath.Join(t.TempDir(), "bundle")
	holder, err := blobstore.Open(blobstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before := testbed.Listing(t, dir)
	var l eventLog
	_, m, err := w.exporter(&l).Export(ctx, rel, dir)
	wantStartError(t, err, blobstore.ErrLocked, dir)
	if m != nil {
		t.Fatal("a refused export returned a bundle")
	}
	if got := testbed.Listing(t, dir); got != before {
		t.Fatalf("the folder in use was changed:\n%s\nthen\n%s", before, got)
	}
	_ = holder.Close()
	rep, m, err := w.exporter(&l).Export(ctx, rel, dir)
	if err != nil || m == nil || rep.Summary.Copied != 1 {
		t.Fatalf("export once the folder is free: %v", err)
	}
	// Not a bundle folder and not empty: refused, left as it was.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.exporter(&l).Export(ctx, rel, other)
	wantStartError(t, err, blobstore.ErrNotStore, other)
	if got := testbed.Listing(t, other); got != "."+" d---------\nnotes.txt ---------- mine" {
		t.Fatalf("the refused folder holds:\n%s", got)
	}
}
