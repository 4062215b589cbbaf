package evidence_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tmsync/tmsync/evidence"
)

// countingFront is a reverse proxy in front of a registry that counts requests by kind.
type countingFront struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingFront) kind(r *http.Request) string {
	switch {
	case r.URL.Path == "/v2/" || r.URL.Path == "/v2":
		return "ping"
	case strings.Contains(r.URL.Path, "/referrers/"):
		return "referrers-api"
	default:
		return "other"
	}
}

func (c *countingFront) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[k]
}

func startCountingFront(t *testing.T, host string) (string, *countingFront) {
	c := &countingFront{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.counts[c.kind(r)]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), c
}

// TestReferrerListingRequests lists the referrers of several vendor images, each in its
// own repository, as a sync does for every image of a release: the registry's ping is
// made once per run, not once per image, and a registry that answered the referrers API
// with anything but an index is read through the referrers tag without asking the API
// again. The referrers found are the same either way.
func TestReferrerListingRequests(t *testing.T) {
	ctx := context.Background()
	for _, rk := range registries {
		t.Run(rk.name, func(t *testing.T) {
			backend := rk.start(t)
			front, counts := startCountingFront(t, backend)
			dst := referrersRegistry(t)
			const n = 4
			var imgs []evidence.Image
			for i := range n {
				repo := front + "/vendor/app-" + string(rune('a'+i))
				img := pushImage(t, repo, false)
				// One SBOM referrer per image (remote.Write keeps the referrers tag where
				// the registry has no API).
				head, err := remote.Head(mustDigest(t, img))
				if err != nil {
					t.Fatal(err)
				}
				sbom := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
				sbom = mutate.ConfigMediaType(sbom, "application/spdx+json")
				sbom, err = mutate.AppendLayers(sbom, static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3","n":`+string(rune('0'+i))+`}`), "application/spdx+json"))
				if err != nil {
					t.Fatal(err)
				}
				sbom = mutate.Subject(sbom, *head).(v1.Image)
				sd, _ := sbom.Digest()
				if err := remote.Write(mustDigest(t, img).Context().Digest(sd.String()), sbom); err != nil {
					t.Fatal(err)
				}
				srcImg, err := remote.Image(mustDigest(t, img))
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Write(mustDigest(t, evidence.Image{Repository: dst + "/bank/app-" + string(rune('a'+i)), Digest: img.Digest}), srcImg); err != nil {
					t.Fatal(err)
				}
				imgs = append(imgs, img)
			}
			c := newClient(t)
			pings0, api0 := counts.get("ping"), counts.get("referrers-api")
			for i, img := range imgs {
				out, err := c.CopyReferrers(ctx, img, dst+"/bank/app-"+string(rune('a'+i)))
				if err != nil || len(out.Referrers) != 1 || out.Referrers[0].Status != "copied" {
					t.Fatalf("image %d: %v %s", i, err, js(out))
				}
			}
			pings, api := counts.get("ping")-pings0, counts.get("referrers-api")-api0
			t.Logf("%s: %d images: %d pings, %d referrers API requests, %d other", rk.name, n, pings, api, counts.get("other"))
			if pings > 1 {
				t.Errorf("%d pings of the source for %d images: want 1 (kept for the run)", pings, n)
			}
			switch rk.scheme {
			case evidence.SchemeReferrersTag:
				if api > 1 {
					t.Errorf("%d referrers API requests to a registry without the API: want 1 (the probe)", api)
				}
			default:
				if api < n {
					t.Errorf("%d referrers API requests for %d images to a registry with the API", api, n)
				}
			}
			// The images of a run are listed in parallel: a new client's first listings
			// wait for one probe instead of each probing.
			c2 := newClient(t)
			api0 = counts.get("referrers-api")
			var wg sync.WaitGroup
			for i, img := range imgs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c2.CopyReferrers(ctx, img, dst+"/bank/app-"+string(rune('a'+i))); err != nil {
						t.Errorf("image %d in parallel: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if api := counts.get("referrers-api") - api0; rk.scheme == evidence.SchemeReferrersTag && api != 1 {
				t.Errorf("%d referrers API requests for %d images listed in parallel, to a registry without the API: want 1 (one probe)", api, n)
			}
		})
	}
}
