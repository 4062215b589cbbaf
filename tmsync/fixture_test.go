package tmsync

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/manifest"
)

// world is an in-process source registry, target registry and attestation server, for
// engine tests that need no external process.
type world struct {
	t        testing.TB
	src, dst string
	signer   *attesttest.Signer
	att      *attesttest.Server
	dir      string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	src := httptest.NewServer(registry.New(quiet))
	dst := httptest.NewServer(registry.New(quiet))
	t.Cleanup(src.Close)
	t.Cleanup(dst.Close)
	signer, err := attesttest.NewSigner("test attestor")
	if err != nil {
		t.Fatal(err)
	}
	att := attesttest.NewServer("token")
	t.Cleanup(att.Close)
	w := &world{t: t, src: strings.TrimPrefix(src.URL, "http://"), dst: strings.TrimPrefix(dst.URL, "http://"),
		signer: signer, att: att, dir: t.TempDir()}
	return w
}

// push pushes images to the source, attesting those with attest set.
func (w *world) push(images []releasetest.Image, seed int64, attestThem bool) []releasetest.Image {
	w.t.Helper()
	for i := range images {
		if err := releasetest.Push(context.Background(), releasetest.Registry{Host: w.src}, &images[i], seed+int64(i)); err != nil {
			w.t.Fatal(err)
		}
		if attestThem {
			w.attest(images[i].Repository, images[i].Digest)
		}
	}
	return images
}

func (w *world) attest(repo, dgst string, opts ...attesttest.OccurrenceOption) {
	w.t.Helper()
	occ, err := w.signer.Occurrence(attest.Subject{Repository: w.src + "/" + repo, Digest: digest.Digest(dgst)}, opts...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.att.Add(occ)
}

// release writes a release folder of images and returns its path.
func (w *world) release(version string, images []releasetest.Image) string {
	w.t.Helper()
	dir := filepath.Join(w.dir, "release-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if _, err := releasetest.WriteRelease(dir, version, w.src, images); err != nil {
		w.t.Fatal(err)
	}
	return dir
}

func (w *world) attestor() Attestor {
	w.t.Helper()
	kr, err := w.signer.Keyring()
	if err != nil {
		w.t.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := attest.NewClient(w.att.URL, attest.WithToken("token"))
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := NewAttestor(c, v)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// testConfig is what a test changes of the world's engine.
type testConfig struct {
	attestor Attestor
	opts     []Option
}

// testEngine is an Engine bound to one release, as the tests use it.
type testEngine struct {
	*Engine
	rel Release
}

func (t testEngine) Sync(ctx context.Context) (*Report, error)   { return t.Engine.Sync(ctx, t.rel) }
func (t testEngine) Plan(ctx context.Context) (*Report, error)   { return t.Engine.Plan(ctx, t.rel) }
func (t testEngine) Verify(ctx context.Context) (*Report, error) { return t.Engine.Verify(ctx, t.rel) }

// engine returns an engine syncing dir into the target registry under prefix "tm".
func (w *world) engine(dir string, mod func(*testConfig)) testEngine {
	w.t.Helper()
	target, err := NewRegistryTarget(w.dst+"/tm", WithTargetInsecure())
	if err != nil {
		w.t.Fatal(err)
	}
	c := testConfig{attestor: w.attestor(), opts: []Option{
		WithSource(Source{Registry: w.src}),
		WithInsecure(w.src, w.dst),
		WithRetryBackoff(1),
	}}
	if mod != nil {
		mod(&c)
	}
	e, err := New(target, c.attestor, c.opts...)
	if err != nil {
		w.t.Fatal(err)
	}
	return testEngine{Engine: e, rel: w.rel(dir)}
}

// rel is the release folder dir as the world's engines read it.
func (w *world) rel(dir string) Release {
	return ReleaseDir(dir, manifest.WithVendorRegistry(w.src), manifest.WithPrefix("/tm/"))
}

// targetDigest returns the digest of tm/repo:tag in the target, or "" when absent.
func (w *world) targetDigest(repo, tag string) string {
	w.t.Helper()
	ref, err := name.ParseReference(w.dst+"/tm/"+repo+":"+tag, name.Insecure)
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

func small(repo, tag string) releasetest.Image {
	return releasetest.Image{Repository: repo, Tag: tag, Layers: 1, LayerSize: 1024}
}
