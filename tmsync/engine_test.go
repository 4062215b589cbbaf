package tmsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
)

func TestSyncCopiesThenSkips(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0"), small("vault/b", "1.0"),
		{Repository: "vault/idx", Tag: "1.0", Layers: 1, LayerSize: 512, Index: true}}, 1, true)
	e := w.engine(w.release("1.0", images), nil)
	rep, err := e.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExitStatus() != 0 || rep.Summary.Copied != 3 {
		t.Fatalf("first sync: %+v\n%v", rep.Summary, rep.ErrorLines())
	}
	for _, im := range images {
		if got := w.targetDigest(im.Repository, im.Tag); got != im.Digest {
			t.Errorf("%s: target has %q, want %s", im.Repository, got, im.Digest)
		}
	}
	rep, err = e.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Present != 3 || rep.Summary.Copied != 0 || rep.Summary.Bytes != 0 {
		t.Fatalf("second sync: %+v", rep.Summary)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0")}, 1, true)
	rep, err := w.engine(w.release("1.0", images), nil).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Planned != 1 || rep.ExitStatus() != 0 {
		t.Fatalf("plan: %+v", rep.Summary)
	}
	if d := w.targetDigest("vault/a", "1.0"); d != "" {
		t.Fatalf("plan pushed %s", d)
	}
}

func TestBYOPolicy(t *testing.T) {
	w := newWorld(t)
	vendor := w.push([]releasetest.Image{small("vault/a", "1.0")}, 1, true)
	// An upstream image: its source lies outside the vendor registry (the release names
	// the vendor registry as another host), with no attestation.
	up := newWorld(t)
	byo := up.push([]releasetest.Image{small("grafana/grafana", "10.0")}, 50, false)
	dir := w.release("1.0", vendor)
	writeBYO(t, dir, "1.0", vendor, w.src, up.src+"/grafana/grafana@"+byo[0].Digest, "restricted/grafana:vault-1.0")

	for _, tc := range []struct {
		policy       BYOPolicy
		wantCopied   int
		wantRejected int
	}{{BYOPinned, 2, 0}, {BYOAttested, 1, 1}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			e := w.engine(dir, func(c *testConfig) { c.opts = append(c.opts, WithBYOPolicy(tc.policy), WithInsecure(up.src)) })
			rep, err := e.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Summary
			if s.Copied+s.Present != tc.wantCopied || s.Rejected != tc.wantRejected {
				t.Fatalf("policy %s: %+v %v", tc.policy, s, rep.ErrorLines())
			}
		})
	}
}

// writeBYO rewrites the release JSON with an extra upstream image.
func writeBYO(t *testing.T, dir, version string, images []releasetest.Image, host, source, dest string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"version":%q,"metadata":{"images":{`, version)
	for _, im := range images {
		fmt.Fprintf(&b, `%q:{"source":"%s/%s:%s@%s","dest":"%s:%s"},`, im.Repository, host, im.Repository, im.Tag, im.Digest, im.Repository, im.Tag)
	}
	fmt.Fprintf(&b, `"byo":{"source":%q,"dest":%q}}}}`, source, dest)
	if err := os.WriteFile(filepath.Join(dir, version+"_release.json"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTagConflictFailsOnlyThatImage(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0"), small("vault/b", "1.0")}, 1, true)
	// Someone pushed another image under vault/a:1.0 in the target.
	other := releasetest.Image{Repository: "tm/vault/a", Tag: "1.0", Layers: 1, LayerSize: 99}
	if err := releasetest.Push(context.Background(), releasetest.Registry{Host: w.dst}, &other, 999); err != nil {
		t.Fatal(err)
	}
	rep, err := w.engine(w.release("1.0", images), nil).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExitStatus() != 1 || rep.Summary.Failed != 1 || rep.Summary.Copied != 1 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	lines := rep.ErrorLines()
	if len(lines) != 1 || !strings.Contains(lines[0], "vault/a:1.0") || !strings.Contains(lines[0], "another digest") {
		t.Fatalf("error lines %q", lines)
	}
	if got := w.targetDigest("vault/a", "1.0"); got != other.Digest {
		t.Fatalf("the conflicting tag was overwritten: %s", got)
	}
}

func TestRejectedAttestationCopiesNothingOfThatImage(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0"), small("vault/b", "1.0")}, 1, false)
	w.attest("vault/a", images[0].Digest)
	w.attest("vault/b", images[0].Digest) // resource is vault/b@a's digest: no occurrence for b
	rep, err := w.engine(w.release("1.0", images), nil).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Rejected != 1 || rep.Summary.Copied != 1 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	if d := w.targetDigest("vault/b", "1.0"); d != "" {
		t.Fatal("an image without a valid attestation was copied")
	}
}

func TestBadInputStartsNothing(t *testing.T) {
	w := newWorld(t)
	// A registry prefix that cannot form repository names is refused up front.
	if _, err := NewRegistryTarget(w.dst + "/UPPER"); err == nil {
		t.Fatal("an invalid registry prefix was accepted")
	}
	// A release folder that does not parse is a StartError naming the file, and the
	// target is left untouched.
	bad := filepath.Join(w.dir, "bad")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "1.0_release.json"), []byte(`{"metadata":{"images":{"x":{"dest":"x:1"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := w.engine(bad, nil).Sync(context.Background())
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "1.0_release.json") {
		t.Fatalf("bad release: got %v, want a StartError naming the file", err)
	}
	if d := w.targetDigest("x", "1"); d != "" {
		t.Fatal("a bad release pushed something")
	}
}

func TestShardsPartitionTheRelease(t *testing.T) {
	w := newWorld(t)
	var images []releasetest.Image
	for i := range 12 {
		images = append(images, small(fmt.Sprintf("vault/svc%02d", i), "1.0"))
	}
	images = w.push(images, 1, true)
	dir := w.release("1.0", images)
	const n = 3
	owner := map[string]int{}
	copied := 0
	for i := range n {
		rep, err := w.engine(dir, func(c *testConfig) { c.opts = append(c.opts, WithShard(i, n)) }).Sync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.ExitStatus() != 0 {
			t.Fatalf("shard %d: %v", i, rep.ErrorLines())
		}
		for _, im := range rep.Images {
			if prev, ok := owner[im.Repository]; ok && prev != i {
				t.Errorf("repository %s touched by shards %d and %d", im.Repository, prev, i)
			}
			owner[im.Repository] = i
			if im.Outcome == OutcomeCopied {
				copied++
			}
		}
	}
	if copied != len(images) {
		t.Fatalf("%d shards copied %d images, want each of %d once", n, copied, len(images))
	}
	for _, im := range images {
		if w.targetDigest(im.Repository, im.Tag) != im.Digest {
			t.Errorf("%s missing after all shards", im.Repository)
		}
	}
}

// TestSharedLayersMoveOnce: a base layer shared by several images is sent once and then
// mounted, because every copy of a run shares one blob info cache. The target is a real
// distribution registry: like ECR, it links blobs per repository, so a blob pushed to one
// repository must be mounted into the next (go-containerregistry's in-process registry
// keeps blobs global and would hide the difference).
func TestSharedLayersMoveOnce(t *testing.T) {
	w := newWorld(t)
	w.dst = testbed.StartRegistry(t, testbed.RegistryOptions{}).Host
	base, err := releasetest.RandomLayer(42, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	var images []releasetest.Image
	for i := range 4 {
		images = append(images, releasetest.Image{Repository: fmt.Sprintf("vault/svc%d", i), Tag: "1.0",
			Layers: 1, LayerSize: 1024, Base: []releasetest.Layer{base}})
	}
	images = w.push(images, 1, true)
	rep, err := w.engine(w.release("1.0", images), func(c *testConfig) { c.opts = append(c.opts, WithConcurrency(1)) }).Sync(context.Background())
	if err != nil || rep.Summary.Copied != 4 {
		t.Fatalf("sync: %v %+v", err, rep.Summary)
	}
	if rep.Summary.Bytes > 2*256<<10 {
		t.Fatalf("moved %d bytes for a 256 KiB base shared by 4 images: the base was sent again instead of mounted", rep.Summary.Bytes)
	}
}

// TestDeclaredLayersAreChecked: a release that declares an image's layers is held to
// them before anything is pushed; the right list passes.
func TestDeclaredLayersAreChecked(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0"), small("vault/b", "1.0")}, 1, true)
	layersOf := func(im releasetest.Image) []string {
		ref, _ := name.ParseReference(w.src+"/"+im.Repository+"@"+im.Digest, name.Insecure)
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		var out []string
		for _, l := range ls {
			d, _ := l.Digest()
			out = append(out, d.String())
		}
		return out
	}
	entry := func(im releasetest.Image, layers []string) string {
		var ls []string
		for _, l := range layers {
			ls = append(ls, fmt.Sprintf(`{"digest":%q}`, l))
		}
		return fmt.Sprintf(`%q:{"source":"%s/%s:%s@%s","dest":"%s:%s","layers":[%s]}`, im.Repository, w.src, im.Repository, im.Tag, im.Digest,
			im.Repository, im.Tag, strings.Join(ls, ","))
	}
	dir := filepath.Join(w.dir, "layers")
	os.MkdirAll(dir, 0o755)
	other := "sha256:" + strings.Repeat("ab", 32)
	doc := `{"metadata":{"images":{` + entry(images[0], layersOf(images[0])) + "," + entry(images[1], []string{other}) + `}}}`
	if err := os.WriteFile(filepath.Join(dir, "1.0_release.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := w.engine(dir, nil).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range rep.Images {
		switch im.Dest {
		case "vault/a:1.0":
			if im.Outcome != OutcomeCopied {
				t.Errorf("%s with the right layers: %s %s", im.Dest, im.Outcome, im.Reason)
			}
		case "vault/b:1.0":
			if im.Outcome != OutcomeFailed || im.Attempts != 1 || !strings.Contains(im.Reason, "declares 1 layers") {
				t.Errorf("%s with wrong layers: %s after %d attempts: %s", im.Dest, im.Outcome, im.Attempts, im.Reason)
			}
		}
	}
	if d := w.targetDigest("vault/b", "1.0"); d != "" {
		t.Error("an image whose declared layers differ was pushed")
	}
}
