package tmsync

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestProgressAcrossARetry: an image whose copy fails after one blob landed and is
// retried as a whole. Its progress never goes down (the retry skips the blob that landed
// and starts its others at 0), ends at the bytes the report records, and never exceeds
// what the target actually received, which is more (a blob was sent twice).
func TestProgressAcrossARetry(t *testing.T) {
	w := newWorld(t)
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	reg := registry.New(quiet)
	var mu sync.Mutex
	var received int64 // blob bytes the target read, every try
	puts := 0
	dst := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			received += int64(len(body))
			if r.Method == http.MethodPut {
				puts++
			}
			fail := r.Method == http.MethodPut && puts == 2 // the second blob to land fails once
			mu.Unlock()
			if fail {
				rw.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		reg.ServeHTTP(rw, r)
	}))
	t.Cleanup(dst.Close)
	w.dst = strings.TrimPrefix(dst.URL, "http://")
	images := w.push([]releasetest.Image{{Repository: "vault/a", Tag: "1.0", Layers: 3, LayerSize: 64 << 10}}, 5, true)
	var (
		emu      sync.Mutex
		progress []int64
		retries  int
	)
	e := w.engine(w.release("1.0", images), func(c *testConfig) {
		c.opts = append(c.opts, WithConcurrency(1), WithObserver(ObserverFunc(func(e Event) {
			emu.Lock()
			defer emu.Unlock()
			switch e.Kind {
			case EventProgress:
				progress = append(progress, e.Bytes)
			case EventRetry:
				retries++
			}
		})))
	})
	rep, err := e.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := rep.Images[0]
	if rec.Outcome != OutcomeCopied || rec.Attempts != 2 || retries != 1 {
		t.Fatalf("outcome %s after %d attempts, %d retries; want copied after 2 (%v)", rec.Outcome, rec.Attempts, retries, rep.ErrorLines())
	}
	t.Logf("progress %v, report %d bytes, target received %d", progress, rec.Bytes, received)
	if len(progress) == 0 {
		t.Fatal("no progress event")
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] < progress[i-1] {
			t.Errorf("progress went down: %v", progress)
			break
		}
	}
	last := progress[len(progress)-1]
	if last != rec.Bytes {
		t.Errorf("progress ends at %d, the report says %d bytes", last, rec.Bytes)
	}
	if received <= rec.Bytes {
		t.Errorf("the target received %d bytes, not more than the image's %d: no blob was sent twice, the test did not retry mid-image", received, rec.Bytes)
	}
	if last > received {
		t.Errorf("progress %d exceeds the %d bytes the target received", last, received)
	}
}
