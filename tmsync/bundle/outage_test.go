package bundle_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/internal/faultproxy"
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
