package bundle_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/datapathtest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// BenchmarkBundle measures, on loopback, a shared-base release of 24 images (one an
// index) with 2 base layers of 16 MiB and 2 own layers of 2 MiB per platform (54
// distinct blobs, 86 MiB): a direct registry-to-registry copy (copy.Image, 4 images at once, as sync),
// export, pack into a tar, open+verify the folder and the tar, and import from the
// folder (copy.Image from the oci: layout, 4 at once). Throughput is distinct MB per
// second; peak RSS is the process's VmHWM, reset before each phase.
//
//	TMSYNC_INTEGRATION=require make test PKGS=./tmsync/bundle/ TESTFLAGS='-run XXX -bench Bundle -benchtime 1x'
func BenchmarkBundle(b *testing.B) {
	if testing.Short() {
		b.Skip("integration benchmark")
	}
	signer, err := attesttest.NewSigner("vendor")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	vend := testbed.StartRegistry(b, testbed.RegistryOptions{})
	att := attesttest.NewServer("vendor-token")
	defer att.Close()
	v := &vendor{reg: vend, att: att, signer: signer}
	images, err := datapathtest.SharedBaseRelease(ctx, v.registry(), datapathtest.ReleaseOptions{BaseSize: 16 << 20, LayerSize: 2 << 20})
	if err != nil {
		b.Fatal(err)
	}
	distinct, err := datapathtest.DistinctOf(ctx, v.registry(), images)
	if err != nil {
		b.Fatal(err)
	}
	v.attestAll(b, images)
	mb := float64(distinct.Bytes) / (1 << 20)
	b.Logf("release: %d images, %d distinct blobs, %.1f MiB", len(images), distinct.Blobs, mb)
	op := operatorVerifier(b, signer)
	phase := func(name string, f func()) {
		debug.FreeOSMemory()
		resetPeak()
		start := time.Now()
		f()
		secs := time.Since(start).Seconds()
		b.ReportMetric(mb/secs, name+"-MB/s")
		if p := peakRSS(); p > 0 {
			b.ReportMetric(float64(p)/(1<<20), name+"-peakRSS-MiB")
		}
	}
	for i := 0; i < b.N; i++ {
		root := b.TempDir()
		dir := filepath.Join(root, "bundle")
		phase("direct", func() {
			target := testbed.StartRegistry(b, testbed.RegistryOptions{})
			copyAll(b, images, func(im releasetest.Image) types.ImageReference {
				return dockerRef(b, vend.Ref(im.Repository)+"@"+im.Digest)
			}, target)
		})
		phase("export", func() { v.export(b, "5.0.3", images, dir, nil) })
		tarPath := filepath.Join(root, "bundle.tar")
		phase("pack", func() {
			if _, err := bundle.PackFile(ctx, dir, tarPath, 0); err != nil {
				b.Fatal(err)
			}
		})
		var bd *bundle.Bundle
		phase("verify-dir", func() {
			bd, err = bundle.Open(ctx, dir)
			if err != nil {
				b.Fatal(err)
			}
			if s := bd.Verify(ctx, op); s.ExitCode() != 0 {
				b.Fatal(s.Err())
			}
		})
		phase("verify-tar", func() {
			bt, err := bundle.Open(ctx, tarPath, bundle.WithTempDir(root))
			if err != nil {
				b.Fatal(err)
			}
			if s := bt.Verify(ctx, op); s.ExitCode() != 0 {
				b.Fatal(s.Err())
			}
			bt.Close()
		})
		phase("import", func() {
			target := testbed.StartRegistry(b, testbed.RegistryOptions{})
			copyAll(b, images, func(im releasetest.Image) types.ImageReference {
				ref, err := bd.ImageReference(im.Repository + ":" + im.Tag)
				if err != nil {
					b.Fatal(err)
				}
				return ref
			}, target)
		})
	}
}

// copyAll copies images into target, 4 at once, as sync does.
func copyAll(b *testing.B, images []releasetest.Image, src func(releasetest.Image) types.ImageReference, target *testbed.Registry) {
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(4)
	for _, im := range images {
		ref := src(im)
		g.Go(func() error {
			pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
			if err != nil {
				return err
			}
			defer pc.Destroy()
			man, err := copy.Image(ctx, pc, dockerRef(b, target.Host+"/"+im.Repository+":"+im.Tag), ref, &copy.Options{
				SourceCtx: insecure, DestinationCtx: insecure, ImageListSelection: copy.CopyAllImages,
				PreserveDigests: true, ReportWriter: io.Discard})
			if err == nil && digest.FromBytes(man).String() != im.Digest {
				b.Errorf("%s: pushed %s", im.Repository, digest.FromBytes(man))
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// resetPeak resets the process's peak RSS (Linux: clear_refs 5).
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

var hwmRE = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

// peakRSS is the process's peak RSS in bytes since the last reset, 0 when unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	m := hwmRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}
