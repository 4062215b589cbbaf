package tmsync

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// eventLog records a run's events in the order the observer got them.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	onDone func(image string)
}

func (l *eventLog) Event(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	f := l.onDone
	l.mu.Unlock()
	if f != nil && e.Kind == EventDone {
		f(e.Image)
	}
}

// of returns image's events.
func (l *eventLog) of(image string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Image == image {
			out = append(out, e)
		}
	}
	return out
}

// index is the position of the first event of kind for image in the run, or -1.
func (l *eventLog) index(image string, kind EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.events {
		if e.Image == image && e.Kind == kind {
			return i
		}
	}
	return -1
}

func eventKinds(evs []Event) []EventKind {
	var out []EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func (w *world) exporter(obs Observer, opts ...Option) *Exporter {
	w.t.Helper()
	x, err := NewExporter(w.attestor(), append([]Option{WithSource(Source{Registry: w.src}), WithInsecure(w.src),
		WithRetryBackoff(1), WithObserver(obs)}, opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	return x
}

// TestExportProgressEvents: EventPlanned first, with every image's bytes; then each
// image's START comes when its turn comes (one at a time: after the previous image's
// DONE, not all up front), then its PROGRESS, rising to the bytes of bundle.json, then
// its DONE; START carries the image's size.
func TestExportProgressEvents(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{
		{Repository: "vault/big", Tag: "1.0", Layers: 3, LayerSize: 1 << 20},
		small("vault/a", "1.0"),
		{Repository: "vault/multi", Tag: "1.0", Layers: 1, LayerSize: 64 << 10, Index: true},
	}, 21, true)
	var l eventLog
	dir := filepath.Join(t.TempDir(), "bundle")
	rep, m, err := w.exporter(&l, WithConcurrency(1)).Export(context.Background(), w.rel(w.release("1.0", images)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil || rep.Summary.Copied != 3 {
		t.Fatalf("copied %d, manifest %v: %v", rep.Summary.Copied, m != nil, rep.ErrorLines())
	}
	want := map[string]int64{}
	var total int64
	for _, im := range m.Images {
		want[im.Name] = im.Bytes
		total += im.Bytes
	}
	// EventPlanned once, before the first START, with the images and their bytes.
	planned := -1
	for i, e := range l.events {
		if e.Kind == EventPlanned {
			if planned >= 0 || e.Total != 3 || e.Bytes != total {
				t.Errorf("EventPlanned at %d (earlier: %d): %d images, %d bytes; want one, 3 images, %d bytes", i, planned, e.Total, e.Bytes, total)
			}
			planned = i
		}
	}
	for _, rec := range rep.Images {
		if s := l.index(rec.Dest, EventStart); planned < 0 || s < planned {
			t.Errorf("%s: START at %d, EventPlanned at %d", rec.Dest, s, planned)
		}
	}
	var dones []int
	for _, rec := range rep.Images {
		name := rec.Dest
		evs := l.of(name)
		ks := eventKinds(evs)
		if len(evs) < 3 || evs[0].Kind != EventStart || evs[len(evs)-1].Kind != EventDone {
			t.Errorf("%s: events %v: want START, PROGRESS..., DONE", name, ks)
			continue
		}
		if evs[0].Bytes != want[name] || rec.Bytes != want[name] || want[name] == 0 {
			t.Errorf("%s: START says %d bytes, the report %d, bundle.json %d", name, evs[0].Bytes, rec.Bytes, want[name])
		}
		var last int64
		inside := 0
		for _, e := range evs[1 : len(evs)-1] {
			if e.Kind != EventProgress {
				t.Errorf("%s: %s between START and DONE: %v", name, e.Kind, ks)
				continue
			}
			if e.Bytes <= last || e.Bytes > want[name] {
				t.Errorf("%s: PROGRESS %d after %d, size %d", name, e.Bytes, last, want[name])
			}
			last = e.Bytes
			if e.Bytes > 0 && e.Bytes < want[name] {
				inside++
			}
		}
		if last != want[name] {
			t.Errorf("%s: PROGRESS ends at %d, bundle.json says %d", name, last, want[name])
		}
		if strings.HasPrefix(name, "vault/big") && inside == 0 {
			t.Errorf("%s: no PROGRESS between 0 and its %d bytes: %v", name, want[name], evs)
		}
		if !strings.Contains(evs[len(evs)-1].Message, "into the bundle") {
			t.Errorf("%s: DONE says %q", name, evs[len(evs)-1].Message)
		}
		dones = append(dones, l.index(name, EventDone))
	}
	// One at a time: an image's START comes after the DONE of the one before it.
	for _, rec := range rep.Images {
		s := l.index(rec.Dest, EventStart)
		before := 0
		for _, d := range dones {
			if d < s {
				before++
			}
		}
		others := 0
		for _, r2 := range rep.Images {
			if r2.Dest != rec.Dest && l.index(r2.Dest, EventStart) < s {
				others++
			}
		}
		if before != others {
			t.Errorf("%s started after %d other STARTs but %d DONEs: STARTs are not sent as images start", rec.Dest, others, before)
		}
	}
}

// TestExportFailureAfterDone: image a's blobs are all in (DONE shown) when image b fails
// (its blobs are gone from the source). No bundle is written; a ends failed ("the
// bundle was not written") with an EventError after its DONE, b with its own EventFail;
// each image ends with exactly one DONE or FAIL.
func TestExportFailureAfterDone(t *testing.T) {
	w := newWorld(t)
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	reg := registry.New(quiet)
	aDone := make(chan struct{})
	var once sync.Once
	var armed atomic.Bool // after the push
	src := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if armed.Load() && strings.HasPrefix(r.URL.Path, "/v2/vault/b/blobs/") {
			select {
			case <-aDone:
			case <-time.After(20 * time.Second):
			}
			http.Error(rw, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`, http.StatusNotFound)
			return
		}
		reg.ServeHTTP(rw, r)
	}))
	t.Cleanup(src.Close)
	w.src = strings.TrimPrefix(src.URL, "http://")
	images := w.push([]releasetest.Image{small("vault/a", "1.0"), small("vault/b", "1.0")}, 31, true)
	armed.Store(true)
	l := eventLog{onDone: func(image string) {
		if strings.HasPrefix(image, "vault/a") {
			once.Do(func() { close(aDone) })
		}
	}}
	dir := filepath.Join(t.TempDir(), "bundle")
	rep, m, err := w.exporter(&l, WithConcurrency(2)).Export(context.Background(), w.rel(w.release("1.0", images)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m != nil {
		t.Error("a manifest for a bundle that was not written")
	}
	if _, err := os.Stat(filepath.Join(dir, bundle.ManifestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle.json: %v", err)
	}
	ends := 0
	for _, rec := range rep.Images {
		evs := l.of(rec.Dest)
		ks := eventKinds(evs)
		for _, e := range evs {
			if e.Kind == EventDone || e.Kind == EventFail {
				ends++
			}
		}
		if rec.Outcome != OutcomeFailed || !strings.Contains(rec.Reason, "the bundle was not written (rerun to complete it)") {
			t.Errorf("%s: %s %q; want failed, the bundle was not written", rec.Dest, rec.Outcome, rec.Reason)
		}
		start := l.index(rec.Dest, EventStart)
		switch {
		case strings.HasPrefix(rec.Dest, "vault/a"):
			done, after := l.index(rec.Dest, EventDone), l.index(rec.Dest, EventError)
			if start < 0 || done < start || after < done || l.index(rec.Dest, EventFail) >= 0 {
				t.Errorf("%s: events %v: want START, PROGRESS..., DONE, ERROR", rec.Dest, ks)
			}
			if evs[len(evs)-1].Message != rec.Reason {
				t.Errorf("%s: last event %q, the report says %q", rec.Dest, evs[len(evs)-1].Message, rec.Reason)
			}
		default:
			fail := l.index(rec.Dest, EventFail)
			if start < 0 || fail < start || l.index(rec.Dest, EventDone) >= 0 || !evs[len(evs)-1].Running {
				t.Errorf("%s: events %v: want START, FAIL (running)", rec.Dest, ks)
			}
			if !strings.Contains(rec.Reason, "blob") || !strings.Contains(rec.Reason, "exporting "+rec.Dest) {
				t.Errorf("%s: reason %q does not say what failed", rec.Dest, rec.Reason)
			}
		}
	}
	if ends != len(rep.Images) {
		t.Errorf("%d DONE and FAIL events for %d images: a display would count an image twice", ends, len(rep.Images))
	}
}
