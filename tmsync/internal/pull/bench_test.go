package pull_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

// The overhead of the wrapper against today's path (copy.Image on the docker reference),
// on loopback, for one image with a 256 MiB layer. Each copy runs in a child process
// (this test binary, helperEnv set) so that its peak RSS is its own.
//
//	TMSYNC_INTEGRATION=require make test PKGS=./tmsync/internal/pull/ TESTFLAGS='-run XXX -bench Copy -benchtime 3x'
//
// Modes: direct (today), wrapped (the wrapper, blob streamed), kept (the wrapper, blob
// teed into a store on disk), fetch-first (blobs fetched into the store, then copied
// from it: the other design of issue 15).
const helperEnv = "TMSYNC_PULL_BENCH_CHILD"

var benchOnce struct {
	sync.Once
	vendor, target *testbed.Registry
	src            string
	size           int64
	err            error
}

func BenchmarkCopy256MiB(b *testing.B) {
	if testing.Short() {
		b.Skip("integration benchmark")
	}
	benchOnce.Do(func() {
		benchOnce.vendor = testbed.StartRegistry(b, testbed.RegistryOptions{})
		benchOnce.target = testbed.StartRegistry(b, testbed.RegistryOptions{})
		layer, _ := releasetest.RandomLayer(42, 256<<20)
		im := releasetest.Image{Repository: "bench/big", Tag: "1", Base: []releasetest.Layer{layer}}
		benchOnce.err = releasetest.Push(context.Background(), releasetest.Registry{Host: benchOnce.vendor.Host}, &im, 1)
		benchOnce.src = benchOnce.vendor.Host + "/" + im.Repository + "@" + im.Digest
		benchOnce.size = 256 << 20
		// Warm the registries' storage (page cache) so that the first mode is not
		// charged for it.
		warm := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
		warm.Env = append(os.Environ(), helperEnv+"=direct", "BENCH_SRC="+benchOnce.src,
			"BENCH_DST="+benchOnce.target.Host+"/bench/warm:1", "BENCH_TMP="+b.TempDir())
		if out, err := warm.CombinedOutput(); err != nil && benchOnce.err == nil {
			benchOnce.err = fmt.Errorf("warm-up copy: %v\n%s", err, out)
		}
	})
	if benchOnce.err != nil {
		b.Fatal(benchOnce.err)
	}
	run := 0
	for _, mode := range []string{"direct", "wrapped", "kept", "fetch-first"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(benchOnce.size)
			var peak int64
			for b.Loop() {
				run++
				cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), helperEnv+"="+mode,
					"BENCH_SRC="+benchOnce.src,
					fmt.Sprintf("BENCH_DST=%s/bench/%s-%d:1", benchOnce.target.Host, mode, run),
					"BENCH_TMP="+b.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				// Not the child's rusage: Linux keeps ru_maxrss across exec, so it would
				// include this process's own peak at fork time.
				m := hwm.FindSubmatch(out)
				if m == nil {
					b.Fatalf("child did not report its peak RSS:\n%s", out)
				}
				kib, _ := strconv.ParseInt(string(m[1]), 10, 64)
				peak = max(peak, kib)
			}
			b.ReportMetric(float64(peak)/1024, "peakRSS-MiB")
		})
	}
}

// TestBenchChild is the child of BenchmarkCopy256MiB; it does nothing otherwise.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("only as the benchmark's child")
	}
	ctx := context.Background()
	insecure := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, BlobInfoCacheDir: os.Getenv("BENCH_TMP")}
	src := ref(t, os.Getenv("BENCH_SRC"))
	var st *blobstore.Store
	if mode != "direct" {
		var err error
		if st, err = blobstore.Open(blobstore.Options{TempParent: os.Getenv("BENCH_TMP")}); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		p, err := pull.New(pull.Options{Store: st, Keep: func(digest.Digest) bool { return mode != "wrapped" }})
		if err != nil {
			t.Fatal(err)
		}
		src = p.Wrap(src)
		if mode == "fetch-first" {
			fetchAll(t, ctx, src, insecure)
		}
	}
	pc, _ := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	defer pc.Destroy()
	start := time.Now()
	_, err := copy.Image(ctx, pc, ref(t, os.Getenv("BENCH_DST")), src, &copy.Options{
		SourceCtx: insecure, DestinationCtx: insecure, PreserveDigests: true, ReportWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s: %s %s\n", mode, time.Since(start), hwm.Find(status))
}

var hwm = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

// fetchAll reads every blob of the image through src (kept, so into the store).
func fetchAll(t *testing.T, ctx context.Context, r types.ImageReference, sys *types.SystemContext) {
	t.Helper()
	img, err := r.NewImage(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	infos := append(img.LayerInfos(), img.ConfigInfo())
	for _, info := range infos {
		rc, _, err := src.GetBlob(ctx, info, none.NoCache)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
}
