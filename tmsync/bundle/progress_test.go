package bundle_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/datapathtest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// progressLog records WithProgress's events, from any goroutine.
type progressLog struct {
	mu     sync.Mutex
	events map[string][]bundle.ProgressEvent
	all    []bundle.ProgressEvent // in order
}

func (l *progressLog) record(e bundle.ProgressEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events = map[string][]bundle.ProgressEvent{}
	}
	l.events[e.Image] = append(l.events[e.Image], e)
	l.all = append(l.all, e)
}

// planned checks the one ProgressPlanned: before every ProgressStart, after every
// failure of an image that never started, with images and bytes.
func (l *progressLog) planned(t *testing.T, images int, bytes int64) {
	t.Helper()
	at := -1
	for i, e := range l.all {
		switch {
		case e.Kind == bundle.ProgressPlanned && at >= 0:
			t.Errorf("a second ProgressPlanned at %d", i)
		case e.Kind == bundle.ProgressPlanned:
			at = i
			if e.Images != images || e.Bytes != bytes || e.Image != "" {
				t.Errorf("planned %+v; want %d images, %d bytes", e, images, bytes)
			}
		case e.Kind == bundle.ProgressStart && at < 0:
			t.Errorf("%s started before ProgressPlanned", e.Image)
		case e.Kind == bundle.ProgressFail && at >= 0 && len(l.events[e.Image]) == 1:
			t.Errorf("%s failed before starting, after ProgressPlanned", e.Image)
		}
	}
	if at < 0 {
		t.Error("no ProgressPlanned")
	}
}

// check verifies one image's events: start, bytes*, done; the bytes rising, within the
// size the start gave, ending at want (the bundle.json bytes). It returns how many
// ProgressBytes events fell inside a blob (not at a blob's end).
func (l *progressLog) check(t *testing.T, name string, want int64, ends map[int64]bool) (inside int) {
	t.Helper()
	evs := l.events[name]
	if len(evs) < 3 || evs[0].Kind != bundle.ProgressStart || evs[len(evs)-1].Kind != bundle.ProgressDone {
		t.Errorf("%s: events %v: want start, bytes..., done", name, kinds(evs))
		return 0
	}
	size := evs[0].Bytes
	if size != want || evs[len(evs)-1].Bytes != want {
		t.Errorf("%s: start says %d bytes, done %d; bundle.json %d", name, size, evs[len(evs)-1].Bytes, want)
	}
	var last int64
	for _, e := range evs[1 : len(evs)-1] {
		if e.Kind != bundle.ProgressBytes {
			t.Errorf("%s: %s between start and done: %v", name, e.Kind, kinds(evs))
			continue
		}
		if e.Bytes <= last || e.Bytes > size {
			t.Errorf("%s: progress %d after %d (size %d): not rising within the size", name, e.Bytes, last, size)
		}
		last = e.Bytes
		if !ends[e.Bytes] {
			inside++
		}
	}
	if last != want {
		t.Errorf("%s: progress ends at %d, bundle.json says %d", name, last, want)
	}
	return inside
}

func kinds(evs []bundle.ProgressEvent) []bundle.ProgressKind {
	var out []bundle.ProgressKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// blobEnds is every sum of a prefix of the image's blobs, in bundle.json's order (the
// order Export adds them): the values a ProgressBytes sent at a blob's end can take.
func blobEnds(im bundle.ImageRecord) map[int64]bool {
	ends := map[int64]bool{}
	var n int64
	for _, b := range im.Blobs {
		n += b.Size
		ends[n] = true
	}
	return ends
}

func TestExportProgress(t *testing.T) {
	defer bundle.SetProgressInterval(0)() // every read: the test sees bytes inside blobs
	signer, err := attesttest.NewSigner("vendor attestor")
	if err != nil {
		t.Fatal(err)
	}
	withVendor(t, signer, func(t *testing.T, v *vendor) {
		ctx := context.Background()
		images, err := datapathtest.SharedBaseRelease(ctx, v.registry(), datapathtest.ReleaseOptions{
			Images: 6, BaseSize: 1 << 20, LayerSize: 512 << 10, Seed: 11})
		if err != nil {
			t.Fatal(err)
		}
		v.attestAll(t, images)
		exp := v.bundleImages(t, images)
		dir := filepath.Join(t.TempDir(), "bundle")

		var log progressLog
		m, _, err := bundle.Export(ctx, dir, exp, bundle.WithSystemContext(insecure), bundle.WithJobs(3),
			bundle.WithProgress(log.record))
		if err != nil {
			t.Fatal(err)
		}
		if len(log.events) != len(m.Images)+1 /* planned: "" */ {
			t.Errorf("events for %d images, the bundle has %d", len(log.events)-1, len(m.Images))
		}
		inside := 0
		var total int64
		for _, im := range m.Images {
			inside += log.check(t, im.Name, im.Bytes, blobEnds(im))
			total += im.Bytes
		}
		log.planned(t, len(m.Images), total)
		if inside == 0 {
			t.Error("no progress inside a blob: the bytes are not counted as they are read")
		}

		// A rerun reuses every blob: the same start and done, no byte fetched.
		var again progressLog
		if _, _, err := bundle.Export(ctx, dir, exp, bundle.WithSystemContext(insecure),
			bundle.WithProgress(again.record)); err != nil {
			t.Fatal(err)
		}
		for _, im := range m.Images {
			if n := again.check(t, im.Name, im.Bytes, blobEnds(im)); n != 0 {
				t.Errorf("%s: %d progress events inside a blob on a rerun that fetched nothing", im.Name, n)
			}
		}

		// An image the registry does not have fails alone, before it starts; the others
		// are still done, and Export fails.
		missing := exp[0]
		missing.Name = "missing:1"
		missing.Digest = digest.FromString("not there")
		missing.Ref = dockerRef(t, v.reg.Host+"/"+images[0].Repository+"@"+missing.Digest.String())
		var failed progressLog
		_, _, err = bundle.Export(ctx, filepath.Join(t.TempDir(), "b2"), append(slices.Clone(exp), missing),
			bundle.WithSystemContext(insecure), bundle.WithProgress(failed.record))
		if err == nil {
			t.Fatal("Export of a missing image succeeded")
		}
		evs := failed.events["missing:1"]
		if len(evs) != 1 || evs[0].Kind != bundle.ProgressFail || evs[0].Err == nil ||
			!strings.Contains(evs[0].Err.Error(), "missing:1") || !strings.Contains(err.Error(), evs[0].Err.Error()) {
			t.Errorf("missing image: events %v (err %v); want one fail with the error Export joins (%v)", kinds(evs), errOf(evs), err)
		}
		for _, im := range m.Images {
			failed.check(t, im.Name, im.Bytes, blobEnds(im))
		}
		failed.planned(t, len(m.Images), total)
	})
}

func errOf(evs []bundle.ProgressEvent) error {
	var errs []error
	for _, e := range evs {
		errs = append(errs, e.Err)
	}
	return errors.Join(errs...)
}

// bundleImages are images as Export takes them, attested (the test does not verify).
func (v *vendor) bundleImages(t *testing.T, images []releasetest.Image) []bundle.Image {
	t.Helper()
	var out []bundle.Image
	for _, im := range images {
		src := v.reg.Host + "/" + im.Repository + "@" + im.Digest
		out = append(out, bundle.Image{Name: im.Repository + ":" + im.Tag, Source: src,
			Digest: digest.Digest(im.Digest), Ref: dockerRef(t, src), Attested: true})
	}
	return out
}
