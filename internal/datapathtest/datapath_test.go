package datapathtest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmsync/tmsync/internal/datapathtest"
	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync"
)

// syncRun is syncInto in a subtest of its own: each holds the shared moto until it ends.
func syncRun(t *testing.T, name string, v *testbed.Vendor, dir string, mounting bool, opts ...tmsync.Option) figures {
	t.Helper()
	var f figures
	if !t.Run(name, func(t *testing.T) { f = syncInto(t, v, dir, mounting, opts...) }) && f.rep == nil {
		t.FailNow()
	}
	return f
}

// TestDataPathOnECR syncs a shared-base release into the ECR stand-in with
// BLOB_MOUNTING off and on: each distinct blob crosses the vendor link about once either
// way, and with mounting on the target receives each about once.
func TestDataPathOnECR(t *testing.T) {
	v, dir, _, d := vendorRelease(t, datapathtest.ReleaseOptions{})
	for _, mounting := range []bool{false, true} {
		t.Run(fmt.Sprintf("mounting=%v", mounting), func(t *testing.T) {
			f := syncInto(t, v, dir, mounting)
			if len(f.failed) > 0 {
				t.Fatalf("failed: %v", f.failed)
			}
			eg, up := float64(f.egress)/float64(d.Bytes), float64(f.uploaded)/float64(d.Bytes)
			t.Logf("mounting=%v: egress %.3fx, uploaded %.3fx of %d distinct bytes, mounts %d/%d, %.1fs",
				mounting, eg, up, d.Bytes, f.mountsDone, f.mountsAsked, f.seconds)
			if f.egress < d.Bytes || eg > 1.05 {
				t.Errorf("source egress %d = %.3fx the distinct %d: want 1..1.05x", f.egress, eg, d.Bytes)
			}
			if mounting && up > 1.05 {
				t.Errorf("uploaded %.3fx the distinct bytes with mounting on: want <= 1.05x", up)
			}
			if !mounting && f.uploaded <= int64(float64(d.Bytes)*1.5) {
				t.Errorf("uploaded %.3fx with mounting off: a shared base must go to every repository", up)
			}
			// With mounting on, followers wait for the leaders; with it off nothing is
			// gained by waiting, and the copies start at once, as many as run at a time.
			if !mounting && f.startedBeforeFirstEnd < tmsync.DefaultConcurrency {
				t.Errorf("mounting off: %d images started before the first ended, want %d (no leader-first wait)",
					f.startedBeforeFirstEnd, tmsync.DefaultConcurrency)
			}
			tr := f.rep.Transfer
			if tr == nil || tr.Store == nil {
				t.Fatalf("no transfer record: %+v", tr)
			}
			want := map[bool]string{false: "DISABLED", true: "ENABLED"}[mounting]
			if tr.BlobMounting != want || tr.BlobMountingEnabled {
				t.Errorf("blobMounting %q (enabled by the run %v), want %q, unchanged", tr.BlobMounting, tr.BlobMountingEnabled, want)
			}
			if tr.DistinctBytes != d.Bytes || tr.MountSavingsBytes <= d.Bytes {
				t.Errorf("distinct %d (want %d), mount savings %d", tr.DistinctBytes, d.Bytes, tr.MountSavingsBytes)
			}
			if tr.Store.Bytes <= 0 || tr.Store.Bytes > d.Bytes || tr.Store.Kept || tr.Store.Dir != "" {
				t.Errorf("store %+v: want some bytes, at most the distinct %d, removed", *tr.Store, d.Bytes)
			}
		})
	}
}

// TestFlakyVendor syncs a 20-image release with a multi-arch index from a vendor failing
// 10% of requests and cutting 2% of blob bodies, over seeded runs (5; 20 with
// TMSYNC_LONG=1): no run fails. At 20% every image still arrives.
func TestFlakyVendor(t *testing.T) {
	v, dir, images, _ := vendorRelease(t, datapathtest.ReleaseOptions{Images: 20, BaseSize: 64 << 10, LayerSize: 16 << 10})
	seeds := 5
	if os.Getenv("TMSYNC_LONG") != "" {
		seeds = 20
	}
	series := []struct {
		name  string
		cfg   faultproxy.Config
		seeds int
	}{
		{"errors10+cuts2", faultproxy.Config{ErrorRate: 0.1, CutRate: 0.02}, seeds},
		{"errors20", faultproxy.Config{ErrorRate: 0.2, CutRate: 0.02}, 2},
	}
	for _, sr := range series {
		failedRuns, faults, start := 0, 0, time.Now()
		for seed := 1; seed <= sr.seeds; seed++ {
			cfg := sr.cfg
			cfg.Seed = int64(seed)
			if err := v.Proxy.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			f := syncRun(t, fmt.Sprintf("%s/seed=%d", sr.name, seed), v, dir, false, tmsync.WithRetryBackoff(200*time.Millisecond))
			faults += v.Proxy.Stats().Faults()
			if len(f.failed) > 0 {
				failedRuns++
				t.Errorf("%s seed %d: failed: %v", sr.name, seed, f.failed)
			}
			if n := len(f.rep.Images); n != len(images) {
				t.Errorf("%d images reported, want %d", n, len(images))
			}
			if n := f.rep.Transfer.TargetIdleCuts; n != 0 {
				t.Errorf("%s seed %d: %d copies cut as a stalled target; only the vendor had faults", sr.name, seed, n)
			}
		}
		_ = v.Proxy.SetConfig(faultproxy.Config{})
		if faults == 0 {
			t.Errorf("%s: no fault injected", sr.name)
		}
		t.Logf("%s: %d of %d runs failed, %d faults injected, %.1fs", sr.name, failedRuns, sr.seeds, faults, time.Since(start).Seconds())
	}
}

// TestStalledSource stalls source answers for far longer than the idle timeout: they are
// cut and retried, and the sync ends long before the stalls would.
func TestStalledSource(t *testing.T) {
	v, dir, _, _ := vendorRelease(t, datapathtest.ReleaseOptions{Images: 6, BaseSize: 256 << 10, LayerSize: 32 << 10})
	const idle = time.Second
	if err := v.Proxy.SetConfig(faultproxy.Config{Seed: 3, StallRate: 0.1, Stall: time.Minute,
		Match: faultproxy.IsBlobDownload}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = v.Proxy.SetConfig(faultproxy.Config{}) }()
	f := syncInto(t, v, dir, false, tmsync.WithIdleTimeout(idle))
	if len(f.failed) > 0 {
		t.Fatalf("failed: %v", f.failed)
	}
	st := v.Proxy.Stats()
	tr := f.rep.Transfer
	t.Logf("%d stalls of 1 min, %d idle cuts, sync %.1fs", st.Stalls, tr.IdleCuts, f.seconds)
	if st.Stalls == 0 || tr.IdleCuts == 0 {
		t.Fatalf("stalls %d, idle cuts %d: the test stalled nothing", st.Stalls, tr.IdleCuts)
	}
	// A stalled source is the puller's to cut (inside a Read), never the target watch's.
	if tr.TargetIdleCuts != 0 {
		t.Errorf("%d copies cut as a stalled target while only the source stalled", tr.TargetIdleCuts)
	}
	if f.seconds > 30 {
		t.Errorf("sync took %.1fs with a %s idle timeout: stalls were not cut", f.seconds, idle)
	}
}

// TestStalledTarget stalls one target request for far longer than the idle timeout: an
// upload whose body the target stops taking, a blob HEAD (before any stream opens), and an
// image's manifest PUT (after every stream closed). containers/image's client has no
// timeout for these; the copy is cut by the watch, tried again, and the sync ends long
// before the stall would.
func TestStalledTarget(t *testing.T) {
	v, dir, images, _ := vendorRelease(t, datapathtest.ReleaseOptions{Images: 4, BaseSize: 256 << 10, LayerSize: 64 << 10})
	const idle = time.Second
	for _, tc := range []struct {
		name  string
		match func(r *http.Request) bool
	}{
		{"upload", func(r *http.Request) bool {
			return r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/blobs/uploads/")
		}},
		{"blob HEAD", func(r *http.Request) bool {
			return r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/sha256:")
		}},
		{"manifest PUT", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fp *faultproxy.Proxy
			front := func(host string) string {
				fp = faultproxy.Start(t, host, faultproxy.Config{Seed: 1, StallRate: 1, Stall: 5 * time.Minute,
					MaxFaults: 1, Match: tc.match})
				return fp.Host
			}
			f := syncVia(t, v, dir, false, front, tmsync.WithIdleTimeout(idle), tmsync.WithRetryBackoff(10*time.Millisecond))
			if len(f.failed) > 0 {
				t.Fatalf("failed: %v", f.failed)
			}
			st := fp.Stats()
			cuts := f.rep.Transfer.TargetIdleCuts
			t.Logf("%d stalls of 5 min at the target, %d target idle cuts, %d whole-image retries, sync %.1fs",
				st.Stalls, cuts, f.retries, f.seconds)
			if st.Stalls != 1 {
				t.Fatalf("%d stalls: the test stalled nothing", st.Stalls)
			}
			if cuts != 1 || f.retries != 1 {
				t.Errorf("target idle cuts %d, retries %d: want the stalled copy cut once and tried again", cuts, f.retries)
			}
			if f.seconds > 30 {
				t.Errorf("sync took %.1fs with a %s idle timeout: the stall was not cut", f.seconds, idle)
			}
			if n := len(f.rep.Images); n != len(images) {
				t.Errorf("%d images reported, want %d", n, len(images))
			}
			var stalled *tmsync.ImageRecord
			for i := range f.rep.Images {
				if f.rep.Images[i].Attempts > 1 {
					stalled = &f.rep.Images[i]
				}
			}
			if stalled == nil || stalled.Outcome != tmsync.OutcomeCopied {
				t.Errorf("no image copied on a second try: %+v", stalled)
			}
		})
	}
}

// TestTargetThrottleIsNotAStall: a target that answers 429 with a Retry-After longer
// than the idle timeout is answering; containers/image waits and asks again, and the
// watch does not cut the copy (it waits retryWait more after a request).
func TestTargetThrottleIsNotAStall(t *testing.T) {
	v, dir, images, _ := vendorRelease(t, datapathtest.ReleaseOptions{Images: 3, BaseSize: 64 << 10, LayerSize: 16 << 10})
	var fp *faultproxy.Proxy
	front := func(host string) string {
		fp = faultproxy.Start(t, host, faultproxy.Config{Seed: 1, ErrorRate: 1, Statuses: []int{http.StatusTooManyRequests},
			RetryAfter: 3 * time.Second, MaxFaults: 2, Match: func(r *http.Request) bool {
				return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/")
			}})
		return fp.Host
	}
	// Retry-After 3 s, the idle timeout 2 s: quiet for longer than the idle timeout, and
	// within its retryWait.
	f := syncVia(t, v, dir, false, front, tmsync.WithIdleTimeout(2*time.Second), tmsync.WithRetryBackoff(10*time.Millisecond))
	t.Logf("429s %v, target idle cuts %d, whole-image retries %d, sync %.1fs", fp.Stats().Errors, f.rep.Transfer.TargetIdleCuts, f.retries, f.seconds)
	if fp.Stats().Errors[http.StatusTooManyRequests] != 2 {
		t.Fatalf("429s %v: the test throttled nothing", fp.Stats().Errors)
	}
	if len(f.failed) > 0 || len(f.rep.Images) != len(images) {
		t.Fatalf("failed %v, %d images reported", f.failed, len(f.rep.Images))
	}
	if f.rep.Transfer.TargetIdleCuts != 0 || f.retries != 0 {
		t.Errorf("target idle cuts %d, whole-image retries %d: a throttled upload was cut as a stall", f.rep.Transfer.TargetIdleCuts, f.retries)
	}
}

// TestStalledVendorReferrers stalls the listing of an image's referrers at the vendor
// (the evidence's request, outside the copy) for far longer than the idle timeout: it is
// cut and asked again, and the sync ends long before the stall would.
func TestStalledVendorReferrers(t *testing.T) {
	v, dir, images, _ := vendorRelease(t, datapathtest.ReleaseOptions{Images: 3, BaseSize: 64 << 10, LayerSize: 16 << 10})
	listing := func(r *http.Request) bool {
		return r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/referrers/") || strings.Contains(r.URL.Path, "/manifests/sha256-"))
	}
	if err := v.Proxy.SetConfig(faultproxy.Config{Seed: 1, StallRate: 1, Stall: 5 * time.Minute, MaxFaults: 1, Match: listing}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = v.Proxy.SetConfig(faultproxy.Config{}) }()
	f := syncInto(t, v, dir, false, tmsync.WithIdleTimeout(time.Second), tmsync.WithEvidence(tmsync.Evidence{CopyReferrers: true}))
	st := v.Proxy.Stats()
	t.Logf("%d stalls of 5 min at the vendor's referrers, sync %.1fs, failed %v", st.Stalls, f.seconds, f.failed)
	if st.Stalls != 1 {
		t.Fatalf("%d stalls: the test stalled nothing", st.Stalls)
	}
	if f.seconds > 30 {
		t.Errorf("sync took %.1fs with a 1s idle timeout: the stalled listing was not cut", f.seconds)
	}
	if len(f.failed) > 0 {
		t.Errorf("failed: %v (the cut listing is asked again)", f.failed)
	}
	if n := len(f.rep.Images); n != len(images) {
		t.Errorf("%d images reported, want %d", n, len(images))
	}
}

// TestCacheDirRerun keeps the store (--cache-dir): a second sync of the same release,
// into an empty target, pulls no blob from the vendor.
func TestCacheDirRerun(t *testing.T) {
	v, dir, _, d := vendorRelease(t, datapathtest.ReleaseOptions{Images: 6, BaseSize: 256 << 10, LayerSize: 32 << 10})
	cache := t.TempDir()
	first := syncRun(t, "first", v, dir, false, tmsync.WithCacheDir(cache))
	if len(first.failed) > 0 || first.egress < d.Bytes {
		t.Fatalf("first run: failed %v, egress %d of %d", first.failed, first.egress, d.Bytes)
	}
	st := first.rep.Transfer.Store
	if !st.Kept || st.Dir != cache || st.Bytes < d.Bytes || st.Bytes > d.Bytes+1<<20 {
		t.Fatalf("kept store %+v: want every distinct blob (%d bytes) in %s", *st, d.Bytes, cache)
	}
	if _, err := os.Stat(cache + "/oci-layout"); err != nil {
		t.Fatalf("the kept store is not an OCI layout: %v", err)
	}
	second := syncRun(t, "second", v, dir, false, tmsync.WithCacheDir(cache))
	if len(second.failed) > 0 {
		t.Fatalf("second run failed: %v", second.failed)
	}
	if second.egress != 0 {
		t.Errorf("the rerun pulled %d bytes again from the vendor", second.egress)
	}
	if second.uploaded < d.Bytes {
		t.Errorf("the rerun uploaded %d of %d distinct bytes to the new target", second.uploaded, d.Bytes)
	}
	if second.rep.Transfer.Store.Reused == 0 {
		t.Errorf("store reused nothing: %+v", *second.rep.Transfer.Store)
	}
}

// TestTargetFaultsPullOnce: the target fails the commit (PUT) of a blob needed once,
// first in one repository and later in another. The first failure's blob crosses the
// vendor link again (it was streamed, not kept); from then on the run keeps every blob
// it pulls, so the second failure's retry uploads from the local store and its blob
// crosses the vendor link once. Under a store bound of the operator's
// (--cache-max-bytes) the room stays for the shared blobs: nothing more is kept, and the
// second blob is pulled again.
func TestTargetFaultsPullOnce(t *testing.T) {
	v, dir, images, d := vendorRelease(t, datapathtest.ReleaseOptions{Images: 6, BaseSize: 256 << 10, LayerSize: 64 << 10})
	base := baseDigests(t, images)
	for _, tc := range []struct {
		name       string
		opts       []tmsync.Option
		keptAll    bool
		secondGets int
	}{
		{"default store", nil, true, 1},
		{"operator's bound", []tmsync.Option{tmsync.WithCacheMaxBytes(4 * d.Bytes)}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The faults: the first commit of a blob needed once (not a base layer), then
			// the first such commit in another repository.
			var mu sync.Mutex
			var firstRepo, firstBlob, secondBlob string
			fault := func(r *http.Request) bool {
				if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/blobs/uploads/") {
					return false
				}
				dg := r.URL.Query().Get("digest")
				repo, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/")
				if dg == "" || base[dg] {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case firstBlob == "":
					firstRepo, firstBlob = repo, dg
					return true
				case secondBlob == "" && repo != firstRepo:
					secondBlob = dg
					return true
				}
				return false
			}
			var fp *faultproxy.Proxy
			front := func(host string) string {
				fp = faultproxy.Start(t, host, faultproxy.Config{ErrorRate: 1, Statuses: []int{500}, Match: fault})
				return fp.Host
			}
			opts := append([]tmsync.Option{tmsync.WithConcurrency(1), tmsync.WithRetryBackoff(10 * time.Millisecond)}, tc.opts...)
			f := syncVia(t, v, dir, false, front, opts...)
			if len(f.failed) > 0 {
				t.Fatalf("failed: %v", f.failed)
			}
			if firstBlob == "" || secondBlob == "" || fp.Stats().Errors[500] != 2 {
				t.Fatalf("faults %v: first %q, second %q; the test failed no commit", fp.Stats().Errors, firstBlob, secondBlob)
			}
			sent := v.Proxy.Stats().Blobs
			gets := func(dg string) int {
				n := 0
				for k, c := range sent {
					if k.Digest == dg {
						n += c.Gets
					}
				}
				return n
			}
			t.Logf("vendor egress %.3fx the distinct %d bytes; the first failed blob pulled %d times, the second %d; retries %d",
				float64(f.egress)/float64(d.Bytes), d.Bytes, gets(firstBlob), gets(secondBlob), f.retries)
			if f.retries < 2 {
				t.Errorf("%d whole-image retries, want the 2 the faults caused", f.retries)
			}
			if n := gets(secondBlob); n != tc.secondGets {
				t.Errorf("the blob whose commit failed after the first failure crossed the vendor link %d times, want %d", n, tc.secondGets)
			}
			if n := gets(firstBlob); n > 2 {
				t.Errorf("the first failed blob crossed the vendor link %d times, want at most twice", n)
			}
			st := f.rep.Transfer.Store
			if st == nil || st.KeptAll != tc.keptAll || st.Bytes > st.MaxBytes || (tc.keptAll && st.MaxBytes < d.Bytes) {
				t.Errorf("store record %+v: want keptAll %v, a bound of at least the distinct %d bytes when keeping all, held within it", st, tc.keptAll, d.Bytes)
			}
		})
	}
}

// TestVendorSendsMoreThanTheBlob: the vendor answers the blobs of one image that no
// other image carries with the blob's bytes and then zeros without end, no
// Content-Length. That image fails, said as such, without an upload that never ends; the
// other images are copied, and the sync ends.
func TestVendorSendsMoreThanTheBlob(t *testing.T) {
	v, dir, images, d := vendorRelease(t, datapathtest.ReleaseOptions{Images: 3, BaseSize: 64 << 10, LayerSize: 32 << 10})
	base := baseDigests(t, images)
	bad := images[1].Repository
	own := func(r *http.Request) bool {
		if !faultproxy.IsBlobDownload(r) {
			return false
		}
		repo, dg, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/")
		return repo == bad && !base[dg]
	}
	if err := v.Proxy.SetConfig(faultproxy.Config{Pad: -1, Match: own}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = v.Proxy.SetConfig(faultproxy.Config{}) }()
	f := syncInto(t, v, dir, false)
	st := v.Proxy.Stats()
	t.Logf("sync %.1fs, %d padded downloads, read %d (distinct %d), uploaded %d, failed %v", f.seconds, st.Pads, f.rep.Transfer.SourceBytes, d.Bytes, f.uploaded, f.failed)
	if st.Pads == 0 {
		t.Fatal("nothing padded: the test tested nothing")
	}
	if len(f.failed) != 1 || !strings.Contains(f.failed[0], bad) || !strings.Contains(f.failed[0], "more than") {
		t.Fatalf("failed: %v; want %s alone, for sending more than the blob", f.failed, bad)
	}
	for _, im := range f.rep.Images {
		if strings.Contains(im.Dest, bad) {
			if im.Attempts != 1 {
				t.Errorf("%s tried %d times: a blob longer than its manifest says is not asked again", im.Dest, im.Attempts)
			}
			if im.Cause != tmsync.CauseDigestMismatch {
				t.Errorf("%s: cause %q, want %q", im.Dest, im.Cause, tmsync.CauseDigestMismatch)
			}
		}
	}
	// What tmsync read and uploaded: the release about once, and at most a read buffer
	// more per padded download. (The proxy's own egress counts what it pushed into the
	// socket's buffers before tmsync closed it: megabytes on loopback.)
	read := f.rep.Transfer.SourceBytes
	if read > 2*d.Bytes+int64(st.Pads)*(64<<10) || f.uploaded > 2*d.Bytes {
		t.Errorf("read %d, uploaded %d bytes for %d distinct: the padding went through", read, f.uploaded, d.Bytes)
	}
}

// TestTargetResetMidUploadPullsOnce: the target resets the connection in the middle of
// the upload of a shared base layer (8 MiB, more than the sockets buffer). The copy
// fails and is tried again; the puller reads the rest of the layer into the local store
// meanwhile (a Range request for the missing bytes), so the layer crosses the vendor link
// once: the retry and every other image read it from the store.
func TestTargetResetMidUploadPullsOnce(t *testing.T) {
	v, dir, images, d := vendorRelease(t, datapathtest.ReleaseOptions{Images: 3, BaseSize: 8 << 20, LayerSize: 16 << 10})
	baseLayer := images[0].Base[0]
	dg, err := baseLayer.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, err := baseLayer.Size()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := baseLayer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	prefix := make([]byte, 64) // past gzip's header, which every layer shares
	_, err = io.ReadFull(rc, prefix)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var hit atomic.Bool
	// The first PATCH whose body starts with the layer: the proxy peeks at it (and hands
	// the body on whole).
	baseUpload := func(r *http.Request) bool {
		if hit.Load() || r.Method != http.MethodPatch || !strings.Contains(r.URL.Path, "/blobs/uploads/") || r.Body == nil {
			return false
		}
		br := bufio.NewReaderSize(r.Body, len(prefix))
		head, _ := br.Peek(len(prefix))
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
		return bytes.Equal(head, prefix) && hit.CompareAndSwap(false, true)
	}
	var fp *faultproxy.Proxy
	front := func(host string) string {
		fp = faultproxy.Start(t, host, faultproxy.Config{ResetRate: 1, MaxFaults: 1, Match: baseUpload})
		return fp.Host
	}
	var log testbed.LockedBuffer
	f := syncVia(t, v, dir, false, front, tmsync.WithRetryBackoff(10*time.Millisecond),
		tmsync.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	byDigest := v.Proxy.Stats().BlobBytesByDigest()
	ps := f.rep.Transfer
	t.Logf("%d resets at the target, %d whole-image retries, base layer sent %d of %d bytes, egress %d for %d distinct, sync %.1fs",
		fp.Stats().Resets, f.retries, byDigest[dg.String()], size, f.egress, d.Bytes, f.seconds)
	if fp.Stats().Resets != 1 {
		t.Fatalf("%d resets: the test reset nothing", fp.Stats().Resets)
	}
	if len(f.failed) > 0 {
		t.Fatalf("failed: %v", f.failed)
	}
	if f.retries < 1 {
		t.Errorf("no image was tried again after the reset")
	}
	if got := byDigest[dg.String()]; got != size {
		t.Errorf("the base layer crossed the vendor link %.2f times (%d bytes of %d): the bytes read before the reset were pulled again",
			float64(got)/float64(size), got, size)
	}
	if ps.Store == nil || ps.Store.ServedBytes < size {
		t.Errorf("store %+v: the retry did not read the layer from it", ps.Store)
	}
	// The reset came before the layer was read to its end (else this tested nothing):
	// the puller read the rest on into the store.
	if !strings.Contains(log.String(), "read on into the store") {
		t.Errorf("no blob was read on into the store after the reset; log:\n%s", log.String())
	}
}

// baseDigests is the digests of the release's shared base layers.
func baseDigests(t *testing.T, images []releasetest.Image) map[string]bool {
	t.Helper()
	base := map[string]bool{}
	for _, l := range images[0].Base {
		dg, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		base[dg.String()] = true
	}
	return base
}
