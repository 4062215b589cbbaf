package bundle_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/datapathtest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// fixture is a bundle exported from a vendor that no longer runs.
type fixture struct {
	dir      string
	m        *bundle.Manifest
	signer   *attesttest.Signer
	images   []releasetest.Image
	distinct datapathtest.Distinct
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	signer, err := attesttest.NewSigner("vendor attestor")
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{dir: filepath.Join(t.TempDir(), "bundle"), signer: signer}
	withVendor(t, signer, func(t *testing.T, v *vendor) {
		ctx := context.Background()
		fx.images, err = datapathtest.SharedBaseRelease(ctx, v.registry(), datapathtest.ReleaseOptions{
			Images: 8, BaseSize: 2 << 20, LayerSize: 384 << 10, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if fx.distinct, err = datapathtest.DistinctOf(ctx, v.registry(), fx.images); err != nil {
			t.Fatal(err)
		}
		v.attestAll(t, fx.images)
		var st bundle.ExportStats
		fx.m, st, _ = v.export(t, "5.0.3", fx.images, fx.dir, nil)
		if st.Fetched != fx.distinct.Blobs || st.FetchedBytes != fx.distinct.Bytes {
			t.Errorf("first export fetched %d blobs, %d bytes; the release has %d distinct blobs, %d bytes",
				st.Fetched, st.FetchedBytes, fx.distinct.Blobs, fx.distinct.Bytes)
		}

		// An interrupted export (markers and three blobs gone, a torn blob) is resumed:
		// only what is missing or torn is fetched again.
		layers := ownLayers(fx.m)
		for _, d := range layers[:3] {
			if err := os.Remove(filepath.Join(fx.dir, "blobs", "sha256", d.Encoded())); err != nil {
				t.Fatal(err)
			}
		}
		torn := filepath.Join(fx.dir, "blobs", "sha256", layers[3].Encoded())
		if err := os.Truncate(torn, 100); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(fx.dir, bundle.ManifestFile))
		_, st, _ = v.export(t, "5.0.3", fx.images, fx.dir, nil)
		if st.Fetched != 4 {
			t.Errorf("resumed export fetched %d blobs, want the 4 missing or torn", st.Fetched)
		}
		_, st, _ = v.export(t, "5.0.3", fx.images, fx.dir, nil)
		if st.Fetched != 0 || st.Reused != fx.distinct.Blobs+10 /* manifests: 7 + index + 2 */ {
			t.Errorf("rerun of a complete export: fetched %d, reused %d", st.Fetched, st.Reused)
		}
	})
	return fx
}

// ownLayers are the layers used by exactly one image, sorted; shared are used by all.
func ownLayers(m *bundle.Manifest) []digest.Digest {
	uses := map[digest.Digest]int{}
	for _, im := range m.Images {
		for _, b := range im.Blobs {
			if strings.Contains(b.MediaType, "layer") {
				uses[b.Digest]++
			}
		}
	}
	var out []digest.Digest
	for d, n := range uses {
		if n == 1 {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func imageOf(m *bundle.Manifest, d digest.Digest) string {
	for _, im := range m.Images {
		for _, b := range im.Blobs {
			if b.Digest == d {
				return im.Name
			}
		}
	}
	return ""
}

func sharedLayer(m *bundle.Manifest) digest.Digest {
	for _, b := range m.Images[0].Blobs {
		n := 0
		for _, im := range m.Images {
			if slices.ContainsFunc(im.Blobs, func(x bundle.Blob) bool { return x.Digest == b.Digest }) {
				n++
			}
		}
		if n == len(m.Images) && strings.Contains(b.MediaType, "layer") {
			return b.Digest
		}
	}
	return ""
}

func openVerify(t *testing.T, path string, v *attest.Verifier) (*bundle.Bundle, *bundle.Summary) {
	t.Helper()
	b, err := bundle.Open(context.Background(), path, bundle.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { b.Close() })
	return b, b.Verify(context.Background(), v)
}

func TestBundle(t *testing.T) {
	fx := newFixture(t)
	op := operatorVerifier(t, fx.signer)

	t.Run("size", func(t *testing.T) {
		size := dirBytes(t, fx.dir)
		over := float64(size-fx.distinct.Bytes) / float64(fx.distinct.Bytes)
		t.Logf("bundle %d bytes, release distinct blobs %d bytes: +%.3f%%", size, fx.distinct.Bytes, over*100)
		if over > 0.01 {
			t.Errorf("bundle is %.2f%% over the distinct bytes of the release (target ≤ 1%%)", over*100)
		}
	})

	t.Run("verify-offline-and-import", func(t *testing.T) {
		b, s := openVerify(t, fx.dir, op)
		if s.ExitCode() != bundle.ExitOK || s.Images != len(fx.images) || s.Verified != s.Images {
			t.Fatalf("summary: exit %d, %d images, %d verified: %v", s.ExitCode(), s.Images, s.Verified, s.Err())
		}
		if s.BlobBytes < fx.distinct.Bytes || len(s.Problems)+len(s.Warnings) != 0 {
			t.Errorf("summary: %d blob bytes (distinct %d), problems %v, warnings %v", s.BlobBytes, fx.distinct.Bytes, s.Problems, s.Warnings)
		}
		for _, r := range s.Results {
			if r.Attestation == nil || r.Attestation.Fingerprint != fx.signer.Fingerprint() {
				t.Errorf("%s: attestation %+v", r.Name, r.Attestation)
			}
		}
		rel := b.ReleaseDir()
		got, err := os.ReadFile(filepath.Join(rel, "5.0.3_release.json"))
		if err != nil || !bytes.Contains(got, []byte(fx.images[0].Digest)) {
			t.Fatalf("release file in the bundle: %v", err)
		}
		target := testbed.StartRegistry(t, testbed.RegistryOptions{})
		importAll(t, b, s, target)
	})

	t.Run("skopeo", func(t *testing.T) {
		bin, err := exec.LookPath("skopeo")
		if err != nil {
			if testbed.Required() {
				t.Fatal("skopeo not installed (apt-get install skopeo)")
			}
			t.Skip("skopeo not installed")
		}
		for _, name := range []string{"vault/core:5.0.3", "vault/svc03:5.0.3"} {
			out, err := exec.Command(bin, "inspect", "--raw", "oci:"+fx.dir+":"+name).Output()
			if err != nil {
				t.Fatalf("skopeo inspect %s: %v", name, err)
			}
			want := digest.Digest(imageRecord(fx.m, name).Digest)
			if got := digest.FromBytes(out); got != want {
				t.Errorf("skopeo inspect --raw %s: %s, want %s", name, got, want)
			}
			if out, err := exec.Command(bin, "inspect", "oci:"+fx.dir+":"+name).CombinedOutput(); err != nil {
				t.Errorf("skopeo inspect %s: %v\n%s", name, err, out)
			}
		}
		// skopeo copies out of the layout: one image with its digest kept; an index with
		// --all (skopeo 1.9 cannot keep an index's digest into oci: or dir:, it converts it).
		dst := t.TempDir()
		out, err := exec.Command(bin, "copy", "--preserve-digests", "oci:"+fx.dir+":vault/svc03:5.0.3", "dir:"+dst+"/svc03").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo copy from the layout: %v\n%s", err, out)
		}
		if got := sumOf(t, filepath.Join(dst, "svc03", "manifest.json")); "sha256:"+got != string(imageRecord(fx.m, "vault/svc03:5.0.3").Digest) {
			t.Errorf("skopeo copy of svc03: manifest sha256:%s", got)
		}
		if out, err := exec.Command(bin, "copy", "--all", "oci:"+fx.dir+":vault/core:5.0.3", "dir:"+dst+"/core").CombinedOutput(); err != nil {
			t.Errorf("skopeo copy --all from the layout: %v\n%s", err, out)
		}
	})

	t.Run("sha256sum", func(t *testing.T) {
		bin, err := exec.LookPath("sha256sum")
		if err != nil {
			t.Skip("no sha256sum")
		}
		cmd := exec.Command(bin, "--quiet", "--strict", "-c", bundle.SumsFile)
		cmd.Dir = fx.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	})

	t.Run("attacks", func(t *testing.T) { attacks(t, fx, op) })
	t.Run("tar-attacks", func(t *testing.T) { tarAttacks(t, fx, op) })
	t.Run("index-attacks", func(t *testing.T) { indexAttacks(t, fx) })
	t.Run("edited-after-verify", func(t *testing.T) { editedAfterVerify(t, fx, op) })
	t.Run("tar-bombs", func(t *testing.T) { tarBombs(t, fx) })
	t.Run("release-digest", func(t *testing.T) { releaseDigestClaims(t, fx, op) })
	t.Run("unlisted-release-file", func(t *testing.T) { unlistedReleaseFile(t, fx, op) })

	t.Run("tar", func(t *testing.T) {
		dir := t.TempDir()
		one := filepath.Join(dir, "bundle.tar")
		files, err := bundle.PackFile(context.Background(), fx.dir, one, 0)
		if err != nil || len(files) != 1 {
			t.Fatalf("PackFile: %v %v", files, err)
		}
		again := filepath.Join(dir, "again.tar")
		if _, err := bundle.PackFile(context.Background(), fx.dir, again, 0); err != nil {
			t.Fatal(err)
		}
		if sumOf(t, one) != sumOf(t, again) {
			t.Error("packing twice gives different tars")
		}
		if out, err := exec.Command("tar", "-tf", one).Output(); err == nil {
			names := strings.Fields(string(out))
			if names[0] != bundle.ManifestFile || names[1] != bundle.SumsFile {
				t.Errorf("tar starts with %v", names[:2])
			}
		}
		fi, _ := os.Stat(one)
		tarOver := float64(fi.Size()-fx.distinct.Bytes) / float64(fx.distinct.Bytes)
		t.Logf("tar %d bytes: +%.3f%% over the distinct bytes", fi.Size(), tarOver*100)
		if tarOver > 0.01 {
			t.Errorf("tar is %.2f%% over the distinct bytes", tarOver*100)
		}
		b, s := openVerify(t, one, op)
		if s.ExitCode() != 0 || s.Kind != "tar" || s.Verified != len(fx.images) {
			t.Fatalf("tar: exit %d kind %s: %v %v", s.ExitCode(), s.Kind, s.Err(), s.Warnings)
		}
		_ = b

		parts, err := bundle.PackFile(context.Background(), fx.dir, filepath.Join(dir, "split.tar"), 1<<20)
		if err != nil || len(parts) < 3 {
			t.Fatalf("split: %v %v", parts, err)
		}
		for _, name := range []string{filepath.Join(dir, "split.tar"), parts[len(parts)-1]} {
			_, s := openVerify(t, name, op)
			if s.ExitCode() != 0 || s.Kind != "split" || s.Verified != len(fx.images) {
				t.Fatalf("split %s: exit %d kind %s: %v", name, s.ExitCode(), s.Kind, s.Err())
			}
		}
		var whole []byte
		for _, p := range parts {
			b, _ := os.ReadFile(p)
			whole = append(whole, b...)
		}
		if h := sha256.Sum256(whole); hex.EncodeToString(h[:]) != sumOf(t, one) {
			t.Error("the parts are not the single tar cut in pieces")
		}
	})
}

func imageRecord(m *bundle.Manifest, name string) bundle.ImageRecord {
	for _, im := range m.Images {
		if im.Name == name {
			return im
		}
	}
	return bundle.ImageRecord{}
}

func sumOf(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
