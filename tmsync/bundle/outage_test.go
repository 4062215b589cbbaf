package bundle_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/bundle"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

// TestExportVendorDown: with the vendor answering every request 503, once a request has
// spent its retries and the vendor kept failing for the outage limit, the images not yet
// read fail at once with "the source registry is unavailable"; with a limit not reached,
// every image spends its own retries (the control).
func TestExportVendorDown(t *testing.T) {
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{})
	fp := faultproxy.Start(t, reg.Host, faultproxy.Config{ErrorRate: 1, Statuses: []int{503}})
	var images []bundle.Image
	for _, name := range []string{"vendor/a", "vendor/b", "vendor/c"} {
		d := digest.FromString(name)
		images = append(images, bundle.Image{Name: name + ":1", Source: fp.Host + "/" + name + "@" + d.String(), Digest: d,
			Ref: dockerRef(t, fp.Host+"/"+name+"@"+d.String())})
	}
	insecure := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}
	export := func(limit time.Duration) (int, error) {
		t.Helper()
		defer bundle.SetOutageLimit(limit)()
		before := fp.Stats().Requests
		_, _, err := bundle.Export(context.Background(), filepath.Join(t.TempDir(), "b"), images,
			bundle.WithSystemContext(insecure), bundle.WithJobs(1), bundle.WithPullRetries(1, 0))
		return fp.Stats().Requests - before, err
	}
	downRequests, down := export(time.Millisecond)
	if down == nil || strings.Count(down.Error(), pull.ErrUnavailable.Error()) != 2 {
		t.Fatalf("vendor down, limit passed: %v; want the two images after the first failed as unavailable", down)
	}
	upRequests, up := export(time.Hour)
	if up == nil || strings.Contains(up.Error(), pull.ErrUnavailable.Error()) {
		t.Fatalf("vendor down, limit not reached: %v; want every image failed by its own requests", up)
	}
	if downRequests == 0 || downRequests >= upRequests {
		t.Errorf("the vendor got %d requests with the export stopped early, %d without: want fewer", downRequests, upRequests)
	}
	t.Logf("requests to the dead vendor: %d with the outage limit passed, %d without", downRequests, upRequests)
}

// TestExportVendorDownMidway: the vendor answers the manifests (the first phase reads
// them all) and then fails every blob request 503. Once the first image's blob has spent
// its retries past the outage limit, the images left fail at once in the second phase,
// before their blobs are asked for; with the limit not reached, each spends its own.
func TestExportVendorDownMidway(t *testing.T) {
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{})
	var blobFaults atomic.Bool
	fp := faultproxy.Start(t, reg.Host, faultproxy.Config{ErrorRate: 1, Statuses: []int{503},
		Match: func(r *http.Request) bool { return blobFaults.Load() && strings.Contains(r.URL.Path, "/blobs/") }})
	var images []bundle.Image
	for i, name := range []string{"vendor/a", "vendor/b", "vendor/c"} {
		im := releasetest.Image{Repository: name, Tag: "1", Layers: 1, LayerSize: 4 << 10}
		if err := releasetest.Push(context.Background(), releasetest.Registry{Host: reg.Host}, &im, int64(10+i)); err != nil {
			t.Fatal(err)
		}
		src := fp.Host + "/" + name + "@" + im.Digest
		images = append(images, bundle.Image{Name: name + ":1", Source: src, Digest: digest.Digest(im.Digest), Ref: dockerRef(t, src)})
	}
	blobFaults.Store(true)
	insecure := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}
	export := func(limit time.Duration) (blobRequests int, err error) {
		t.Helper()
		defer bundle.SetOutageLimit(limit)()
		before := fp.Stats().Errors[503]
		_, _, err = bundle.Export(context.Background(), filepath.Join(t.TempDir(), "b"), images,
			bundle.WithSystemContext(insecure), bundle.WithJobs(1), bundle.WithPullRetries(1, 0))
		return fp.Stats().Errors[503] - before, err
	}
	downBlobs, down := export(time.Nanosecond)
	if down == nil || strings.Count(down.Error(), pull.ErrUnavailable.Error()) != 2 {
		t.Fatalf("blobs failing, limit passed: %v; want the two images after the first failed as unavailable", down)
	}
	for _, im := range images {
		if !strings.Contains(down.Error(), im.Name) {
			t.Errorf("the export's error does not name %s: %v", im.Name, down)
		}
	}
	upBlobs, up := export(time.Hour)
	if up == nil || strings.Contains(up.Error(), pull.ErrUnavailable.Error()) {
		t.Fatalf("blobs failing, limit not reached: %v; want every image failed by its own requests", up)
	}
	if downBlobs == 0 || downBlobs*3 > upBlobs {
		t.Errorf("blob requests failed: %d with the export stopped early, %d without: want a third or fewer", downBlobs, upBlobs)
	}
	t.Logf("failed blob requests: %d with the outage limit passed, %d without", downBlobs, upBlobs)
}
