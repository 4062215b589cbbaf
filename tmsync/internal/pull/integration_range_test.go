package pull_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
	"github.com/tmsync/tmsync/tmsync/internal/schedule"
)

const bigSize = 8 << 20

// newBigBed is a vendor registry (behind the counter and the fault proxy, no faults)
// holding one image with one 8 MiB layer, and a target registry.
func newBigBed(t *testing.T) (*bed, digest.Digest) {
	t.Helper()
	b := &bed{
		vendor: testbed.StartRegistry(t, testbed.RegistryOptions{Username: "vendor", Password: "s3cret-token"}),
		target: testbed.StartRegistry(t, testbed.RegistryOptions{}),
		blobs:  map[digest.Digest]int64{},
		prefix: "mirror",
	}
	b.counter = startCounter(t, b.vendor.Host)
	b.proxy = faultproxy.Start(t, b.counter.host, faultproxy.Config{})
	reg := releasetest.Registry{Host: b.vendor.Host, Auth: &authn.Basic{Username: "vendor", Password: "s3cret-token"}}
	im := releasetest.Image{Repository: "vault/big", Tag: "1.0", Layers: 1, LayerSize: bigSize}
	if err := releasetest.Push(context.Background(), reg, &im, 7); err != nil {
		t.Fatal(err)
	}
	b.images = []releasetest.Image{im}
	b.plan = []schedule.Image{{Repository: im.Repository, Blobs: b.blobsOf(t, im)}}
	var big digest.Digest
	for _, bl := range b.plan[0].Blobs {
		b.blobs[bl.Digest] = bl.Size
		if bl.Size == bigSize {
			big = bl.Digest
		}
	}
	if big == "" {
		t.Fatalf("no %d-byte layer in %v", bigSize, b.plan[0].Blobs)
	}
	return b, big
}

// noRangeRef hides GetBlobAt of the docker source: the puller as it was before Range
// resumes (refetch from byte 0 and skip), for the before/after figure.
type noRangeRef struct{ types.ImageReference }

type noRangeSource struct{ types.ImageSource }

func (r noRangeRef) NewImageSource(ctx context.Context, sys *types.SystemContext) (types.ImageSource, error) {
	src, err := r.ImageReference.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	return noRangeSource{src}, nil
}

// bigRun copies the image once with the counter scripted as set, and returns the
// vendor's bytes for the big layer, the puller's stats and the copy's error.
//
// idle is the puller's idle timeout: above the 1 s containers/image sleeps before its
// own Range resume of a first cut, unless the test means to cut that too.
func bigRun(t *testing.T, b *bed, big digest.Digest, hide bool, store *blobstore.Store, prefix string, idle time.Duration) (int64, pull.Stats, error) {
	t.Helper()
	opts := pull.Options{IdleTimeout: idle, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if store != nil {
		opts.Store, opts.Keep = store, func(digest.Digest) bool { return true }
	}
	p, err := pull.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.prefix = prefix
	im := b.images[0]
	src := ref(t, b.proxy.Host+"/"+im.Repository+"@"+im.Digest)
	if hide {
		src = noRangeRef{src}
	}
	err = copyOne(t, b, p.Wrap(src))
	_, _, sent := b.counter.snapshot()
	return sent[big], p.Stats(), err
}

func TestRangeResumeLargeBlob(t *testing.T) {
	integration(t)
	b, big := newBigBed(t)
	const MiB = 1 << 20
	for i, tc := range []struct {
		name    string
		cuts    []int64 // per answer, from the blob's start; the 2nd answer is containers/image's own Range resume
		stallAt []int64
		idle    time.Duration
		// want
		resumes int64
		// orNone: containers/image may resume both cuts itself (a reset can drop bytes
		// the client had not read yet, so that its second answer makes more than 1 MiB
		// of progress), leaving the wrapper no resume to make.
		orNone    bool
		maxRatio  float64 // vendor bytes / blob size, with Range
		hideRatio float64 // at least this without Range (the old refetch), 0: not run
	}{
		{name: "stalled at 6 MiB", stallAt: []int64{6 * MiB}, idle: 500 * time.Millisecond, resumes: 1, maxRatio: 1.05, hideRatio: 1.7},
		{name: "cut twice (3 MiB, then 3.5 MiB)", cuts: []int64{3 * MiB, 3*MiB + MiB/2}, resumes: 1, maxRatio: 1.05, hideRatio: 1.4},
		{name: "cut at byte 0 twice", cuts: []int64{0, 0}, resumes: 0, maxRatio: 1.05},
		{name: "cut at the last byte twice", cuts: []int64{bigSize - 1, bigSize - 1}, resumes: 1, orNone: true, maxRatio: 1.05, hideRatio: 1.95},
		// containers/image resumes the first cut itself and gives up on the second
		// (no 1 MiB of progress); the wrapper resumes the third and later ones.
		{name: "cut five times", cuts: []int64{1 * MiB, 1*MiB + 100_000, 2 * MiB, 5 * MiB, 8*MiB - 1000}, resumes: 4, maxRatio: 1.05, hideRatio: 1.1},
		{name: "cut twice, containers/image's resume cut by the idle timer", cuts: []int64{3 * MiB, 3*MiB + MiB/2},
			idle: 500 * time.Millisecond, resumes: 2, maxRatio: 1.05, hideRatio: 1.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, hide := range []bool{false, true} {
				if hide && tc.hideRatio == 0 {
					continue
				}
				b.counter.mu.Lock()
				b.counter.cuts = map[digest.Digest][]int64{big: tc.cuts}
				b.counter.stallAt = map[digest.Digest][]int64{big: tc.stallAt}
				b.counter.stallFor = 20 * time.Second
				b.counter.mu.Unlock()
				b.counter.reset()
				start := time.Now()
				idle := tc.idle
				if idle == 0 {
					idle = 3 * time.Second
				}
				sent, s, err := bigRun(t, b, big, hide, nil, fmt.Sprintf("big%d%v", i, hide), idle)
				if err != nil {
					t.Fatalf("hide Range %v: %v", hide, err)
				}
				b.checkTarget(t)
				ratio := float64(sent) / bigSize
				t.Logf("Range hidden %v: vendor bytes %.3f× the blob, %s, %+v", hide, ratio, time.Since(start).Round(time.Millisecond), s)
				if !hide {
					// More resumes than scripted are fine: on a loaded machine the idle timer
					// (500 ms in some cases) can also cut a transfer that was only slow, and
					// the resume still sends each byte once (the ratio and the refetched
					// bytes say so).
					resumesOK := s.RangeResumes >= tc.resumes || (tc.orNone && s.RangeResumes == 0)
					if ratio > tc.maxRatio || s.RefetchedBytes != 0 || !resumesOK || s.RangeFallbacks != 0 {
						t.Errorf("with Range: %.3f× (max %.2f), stats %+v, want at least %d Range resumes", ratio, tc.maxRatio, s, tc.resumes)
					}
				} else if tc.orNone && s.Retries == 0 && s.RangeFallbacks == 0 {
					// containers/image resumed both cuts itself (see orNone): the wrapper had
					// nothing to resume, so the control has no cost to show.
					t.Logf("without Range: containers/image resumed every cut itself; no control")
				} else if ratio < tc.hideRatio || s.RangeResumes != 0 {
					t.Errorf("without Range: %.3f×, want at least %.2f× (the control does not show the cost)", ratio, tc.hideRatio)
				}
			}
		})
	}
}

// A registry that ignores Range (answers 200): the resume still delivers the right
// blob; the prefix crosses the link again and is counted as refetched.
func TestRangeIgnoredByServer(t *testing.T) {
	integration(t)
	b, big := newBigBed(t)
	b.counter.mu.Lock()
	b.counter.ignoreRange = true
	b.counter.cuts = map[digest.Digest][]int64{big: {3 << 20}}
	b.counter.mu.Unlock()
	_, s, err := bigRun(t, b, big, false, nil, "ignored", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b.checkTarget(t)
	full, part, _ := b.counter.snapshot()
	// containers/image's own resume gets a 200 and gives up; the wrapper's ranged
	// resume gets a 200 and containers/image skips the prefix.
	if part[big] != 0 || full[big] != 3 || s.RangeResumes != 0 || s.RangeFallbacks != 1 || s.RefetchedBytes != 3<<20 {
		t.Fatalf("%d answers 200, %d answers 206; stats %+v", full[big], part[big], s)
	}
}

// A registry whose 206 answers carry other bytes than the blob's: the copy fails on
// the digest, the target has no image and the store no blob.
func TestRangeWrongBytesFailCopy(t *testing.T) {
	integration(t)
	b, big := newBigBed(t)
	b.counter.mu.Lock()
	b.counter.corrupt206 = true
	b.counter.cuts = map[digest.Digest][]int64{big: {3 << 20, 3<<20 + 1000}}
	b.counter.mu.Unlock()
	st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, s, copyErr := bigRun(t, b, big, false, st, "wrong", 3*time.Second)
	if copyErr == nil {
		t.Fatal("a blob resumed with wrong bytes was copied")
	}
	if !strings.Contains(copyErr.Error(), "Digest did not match") {
		t.Fatalf("the copy failed, but not on the digest: %v", copyErr)
	}
	if s.RangeResumes != 1 {
		t.Fatalf("stats %+v: the wrong bytes did not come from a Range resume", s)
	}
	if _, ok := st.Has(big); ok {
		t.Fatal("a blob resumed with wrong bytes was stored")
	}
	im := b.images[0]
	if _, err := docker.GetDigest(context.Background(), &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue},
		ref(t, b.target.Host+"/wrong/"+im.Repository+":"+im.Tag)); err == nil {
		t.Fatal("the image reached the target")
	}
	t.Logf("copy refused: %v", copyErr)
}

// copyOne copies b's first image from src to the target under b.prefix.
func copyOne(t *testing.T, b *bed, src types.ImageReference) error {
	t.Helper()
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	im := b.images[0]
	dst := ref(t, b.target.Host+"/"+b.prefix+"/"+im.Repository+":"+im.Tag)
	_, err = copy.Image(context.Background(), pc, dst, src, &copy.Options{
		SourceCtx:          b.sourceSys(),
		DestinationCtx:     &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, BlobInfoCacheDir: t.TempDir()},
		ImageListSelection: copy.CopyAllImages,
		PreserveDigests:    true,
		ReportWriter:       io.Discard,
	})
	return err
}
