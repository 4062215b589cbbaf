package datapathtest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/internal/datapathtest"
	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

const vendorToken = "baseline-vendor-token-7c1e"

// acceptAll is an Attestor that accepts every image: attestations are not what is
// measured here.
type acceptAll struct{}

func (acceptAll) Prepare(context.Context, []attest.Subject) error { return nil }
func (acceptAll) Verify(context.Context, attest.Subject) (*tmsync.Attestation, error) {
	return &tmsync.Attestation{Fingerprint: "baseline"}, nil
}

// vendorRelease starts a vendor registry, pushes a release of o to it and writes the
// release folder naming the vendor through its counting proxy.
func vendorRelease(t *testing.T, o datapathtest.ReleaseOptions) (*testbed.Vendor, string, []releasetest.Image, datapathtest.Distinct) {
	t.Helper()
	ctx := context.Background()
	v := testbed.StartVendor(t, testbed.RegistryOptions{Username: "_tm", Password: vendorToken}, faultproxy.Config{})
	direct := releasetest.Registry{Host: v.Registry.Host, Auth: &authn.Basic{Username: "_tm", Password: vendorToken}}
	images, err := datapathtest.SharedBaseRelease(ctx, direct, o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := datapathtest.DistinctOf(ctx, direct, images)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := releasetest.WriteRelease(dir, "5.0.3", v.Host, images); err != nil {
		t.Fatal(err)
	}
	return v, dir, images, d
}

// figures are what one sync cost.
type figures struct {
	egress, uploaded        int64
	mountsAsked, mountsDone int
	failed                  []string
	retries                 int // whole-image tries after the first, over all images
	seconds                 float64
	rep                     *tmsync.Report
	// startedBeforeFirstEnd is how many images had started when the first one ended:
	// how far the schedule let copies overlap.
	startedBeforeFirstEnd int
}

// syncInto syncs the release in dir from v into a fresh ECR stand-in with mounting as
// given, with the engine's defaults (concurrency, retries, backoff), and returns what it
// cost.
func syncInto(t *testing.T, v *testbed.Vendor, dir string, mounting bool, opts ...tmsync.Option) figures {
	t.Helper()
	return syncVia(t, v, dir, mounting, nil, opts...)
}

// syncVia is syncInto with the target's registry reached through front(host) when front
// is not nil (a fault proxy, say).
func syncVia(t *testing.T, v *testbed.Vendor, dir string, mounting bool, front func(host string) string, opts ...tmsync.Option) figures {
	t.Helper()
	e := testbed.StartECR(t, nil)
	host := e.Host
	if front != nil {
		host = front(e.Host)
	}
	e.SetBlobMounting(mounting)
	v.Proxy.ResetCounts()
	prov, err := ecrtarget.New(ecrtarget.NewClient(e.Config()))
	if err != nil {
		t.Fatal(err)
	}
	target, err := tmsync.NewECRTarget(prov, "/mirror/", ecrtarget.Settings{},
		tmsync.WithTargetRegistryHost(host), tmsync.WithTargetInsecure())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	started, firstEnd := 0, -1
	obs := tmsync.ObserverFunc(func(ev tmsync.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case tmsync.EventStart:
			started++
		case tmsync.EventDone, tmsync.EventFail:
			if firstEnd < 0 {
				firstEnd = started
			}
		}
	})
	opts = append([]tmsync.Option{tmsync.WithObserver(obs)}, opts...)
	eng, err := tmsync.New(target, acceptAll{}, append([]tmsync.Option{
		tmsync.WithSource(tmsync.Source{Registry: v.Host, Username: "_tm", Password: vendorToken}),
		tmsync.WithInsecure(v.Host, host)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := eng.Sync(context.Background(), tmsync.ReleaseDir(dir, manifest.WithVendorRegistry(v.Host), manifest.WithPrefix("/")))
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	f := figures{seconds: time.Since(start).Seconds(), egress: v.Egress(), rep: rep, startedBeforeFirstEnd: firstEnd} // the copies have ended: no more events
	tr := e.Traffic()
	f.uploaded, f.mountsAsked, f.mountsDone = tr.UploadedBytes, len(tr.Mounts), tr.MountsDone()
	for _, im := range rep.Images {
		f.retries += max(im.Attempts-1, 0)
		if im.Outcome != "copied" && im.Outcome != "present" {
			f.failed = append(f.failed, fmt.Sprintf("%s: %s %s", im.Dest, im.Outcome, firstLine(im.Reason)))
		}
	}
	if rep.Failed() && len(f.failed) == 0 {
		f.failed = append(f.failed, "run failed (interrupted?)")
	}
	return f
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// TestDistinctOf checks the count the baseline divides by: three images on two shared
// base layers of known size.
func TestDistinctOf(t *testing.T) {
	o := datapathtest.ReleaseOptions{Images: 3, BaseSize: 1000, OwnLayers: 1, LayerSize: 300}
	_, _, images, d := vendorRelease(t, o)
	if len(images) != 3 || !images[0].Index {
		t.Fatalf("images %+v", images)
	}
	// 2 base layers, own layers: 2 platforms of the index + 2 images, configs: 4.
	if d.Blobs != 2+4+4 {
		t.Fatalf("%d distinct blobs, want 10", d.Blobs)
	}
	if min, max := int64(2*1000+4*300), int64(2*1000+4*300+4*2000); d.Bytes < min || d.Bytes > max {
		t.Fatalf("distinct bytes %d, want layers %d plus four small configs", d.Bytes, min)
	}
}

// TestBaseline measures the current engine on the ECR stand-in: the "before" figures
// of issue 15. Set TMSYNC_BASELINE=1 to run it (about five minutes); TMSYNC_BASELINE_SEEDS
// sets the number of runs per flaky-vendor series (default 4).
func TestBaseline(t *testing.T) {
	if os.Getenv("TMSYNC_BASELINE") == "" {
		t.Skip("the baseline takes about five minutes: set TMSYNC_BASELINE=1 to run it")
	}
	seeds := 4
	if s := os.Getenv("TMSYNC_BASELINE_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TMSYNC_BASELINE_SEEDS=%q: want a positive number", s)
		}
		seeds = n
	}
	v, dir, images, d := vendorRelease(t, datapathtest.ReleaseOptions{})
	var lines []string
	row := func(name string, f figures) {
		lines = append(lines, fmt.Sprintf("%-30s egress %5.2fx  uploaded %5.2fx  mounts %3d/%-3d  image retries %3d  %5.1fs  failed images %d",
			name, float64(f.egress)/float64(d.Bytes), float64(f.uploaded)/float64(d.Bytes),
			f.mountsDone, f.mountsAsked, f.retries, f.seconds, len(f.failed)))
	}
	for _, mounting := range []bool{false, true} {
		name := fmt.Sprintf("mounting=%v", mounting)
		t.Run(name, func(t *testing.T) {
			f := syncInto(t, v, dir, mounting)
			if len(f.failed) > 0 {
				t.Fatalf("a clean run failed: %v", f.failed)
			}
			// Every blob crossed at least once: a count that came out lower is wrong.
			if f.egress < d.Bytes || f.uploaded < d.Bytes-int64(len(images))*4096 && !mounting {
				t.Errorf("egress %d, uploaded %d: below the distinct %d", f.egress, f.uploaded, d.Bytes)
			}
			row(name, f)
		})
	}
	// The vendor's faults, on every request (pings included), mounting off.
	series := []struct {
		name string
		cfg  faultproxy.Config
	}{
		{"errors 10%", faultproxy.Config{ErrorRate: 0.1}},
		{"errors 10% + cuts 2%", faultproxy.Config{ErrorRate: 0.1, CutRate: 0.02}},
		{"errors 20%", faultproxy.Config{ErrorRate: 0.2}},
	}
	var summary []string
	for _, sr := range series {
		failedRuns := 0
		for seed := 1; seed <= seeds; seed++ {
			name := fmt.Sprintf("%s/seed=%d", sr.name, seed)
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				cfg := sr.cfg
				cfg.Seed = int64(seed)
				if err := v.Proxy.SetConfig(cfg); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = v.Proxy.SetConfig(faultproxy.Config{}) }()
				f := syncInto(t, v, dir, false)
				st := v.Proxy.Stats()
				if len(f.failed) > 0 {
					failedRuns++
					t.Logf("%s: %d faults injected; failed: %s", name, st.Faults(), strings.Join(f.failed, "; "))
				}
				if st.Faults() == 0 {
					t.Errorf("%s: no fault injected", name)
				}
				row(name, f)
			})
		}
		summary = append(summary, fmt.Sprintf("vendor %s (500/502/503/429 with Retry-After 1s, pings included): %d of %d runs failed",
			sr.name, failedRuns, seeds))
	}
	t.Logf("release: %d images (%s multi-arch), %d distinct blobs, %d distinct bytes",
		len(images), images[0].Repository, d.Blobs, d.Bytes)
	for _, l := range lines {
		t.Log(l)
	}
	for _, l := range summary {
		t.Log(l)
	}
}
