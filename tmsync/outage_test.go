package tmsync

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

// withPull adjusts the run's puller options (retries, outage limit) for a test.
func withPull(f func(*pull.Options)) Option {
	return func(o *options) error { o.pullHook = f; return nil }
}

// TestVendorDownEndsTheRun: with the vendor answering every request 503, once a request
// has spent its retries and nothing was answered for the outage limit, the images not
// yet copied fail at once ("the source registry is unavailable", no try, the cause still
// told) instead of each spending its whole-image retries. The control, with a limit
// that is not reached, tries every image as before.
func TestVendorDownEndsTheRun(t *testing.T) {
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{Username: "push", Password: unitPassword})
	var images []releasetest.Image
	for i, name := range []string{"vendor/a", "vendor/b", "vendor/c"} {
		im := releasetest.Image{Repository: name, Tag: "1.0.0", Layers: 1, LayerSize: 4 << 10}
		if err := releasetest.Push(context.Background(), releasetest.Registry{Host: reg.Host,
			Auth: &authn.Basic{Username: "push", Password: unitPassword}}, &im, int64(20+i)); err != nil {
			t.Fatal(err)
		}
		images = append(images, im)
	}
	fp := faultproxy.Start(t, reg.Host, faultproxy.Config{ErrorRate: 1, Statuses: []int{503},
		Match: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v2/vendor/") }})
	dir := t.TempDir()
	if _, err := releasetest.WriteRelease(dir, "1.0.0", fp.Host, images); err != nil {
		t.Fatal(err)
	}
	run := func(limit time.Duration) (*Report, int) {
		t.Helper()
		before := fp.Stats().Requests
		// The puller's clock moves 2 s at every reading: the outage's "no request
		// answered for" grows from one image to the next, as in a real run.
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(2 * time.Second)
			return now
		}
		e, err := New(registryTarget(t, reg), acceptAll{}, WithSource(Source{Registry: fp.Host, Username: "push", Password: unitPassword}),
			WithInsecure(reg.Host, fp.Host), WithConcurrency(1), WithRetryBackoff(time.Millisecond),
			withPull(func(o *pull.Options) {
				o.Retries, o.Backoff, o.MaxBackoff, o.OutageLimit, o.Now = 1, time.Millisecond, time.Millisecond, limit, clock
			}))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.Sync(context.Background(), ReleaseDir(dir, manifest.WithVendorRegistry(fp.Host), manifest.WithPrefix("/")))
		if err != nil {
			t.Fatal(err)
		}
		return rep, fp.Stats().Requests - before
	}
	down, downRequests := run(time.Millisecond)
	reasons := map[string]bool{}
	for _, rec := range down.Images {
		reasons[rec.Reason] = true
		if rec.Outcome != OutcomeFailed || rec.Attempts != 0 || !strings.Contains(rec.Reason, pull.ErrUnavailable.Error()) ||
			rec.Cause != CauseServerError {
			t.Errorf("%s with the vendor down: %s after %d tries, cause %q: %s", rec.Dest, rec.Outcome, rec.Attempts, rec.Cause, rec.Reason)
		}
	}
	if len(reasons) != 1 {
		t.Errorf("the images failed for the one outage give %d different reasons, want 1: %v", len(reasons), reasons)
	}
	up, upRequests := run(time.Hour)
	for _, rec := range up.Images {
		if rec.Outcome != OutcomeFailed || rec.Attempts != DefaultRetries+1 || strings.Contains(rec.Reason, pull.ErrUnavailable.Error()) {
			t.Errorf("%s with an outage limit not reached: %s after %d tries: %s", rec.Dest, rec.Outcome, rec.Attempts, rec.Reason)
		}
	}
	if downRequests >= upRequests || downRequests == 0 {
		t.Errorf("the vendor got %d requests with the run ended early, %d without: want fewer", downRequests, upRequests)
	}
	t.Logf("requests to the dead vendor: %d with the outage limit passed, %d without", downRequests, upRequests)
}
