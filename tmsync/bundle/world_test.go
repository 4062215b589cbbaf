package bundle_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

var insecure = &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}

// vendor is a vendor registry and attestation server, stopped when the subtest that
// started it ends: what is verified after it ran offline.
type vendor struct {
	reg    *testbed.Registry
	att    *attesttest.Server
	signer *attesttest.Signer
}

// withVendor runs f in a subtest owning a vendor; the vendor is gone when it returns.
func withVendor(t *testing.T, signer *attesttest.Signer, f func(t *testing.T, v *vendor)) {
	t.Helper()
	ok := t.Run("vendor", func(t *testing.T) {
		reg := testbed.StartRegistry(t, testbed.RegistryOptions{})
		att := attesttest.NewServer("vendor-token")
		t.Cleanup(att.Close)
		f(t, &vendor{reg: reg, att: att, signer: signer})
	})
	if !ok {
		t.FailNow()
	}
}

func (v *vendor) registry() releasetest.Registry { return releasetest.Registry{Host: v.reg.Host} }

// attestAll signs every image and serves the occurrences.
func (v *vendor) attestAll(t testing.TB, images []releasetest.Image) {
	t.Helper()
	for _, im := range images {
		occ, err := v.signer.Occurrence(attest.Subject{Repository: v.reg.Ref(im.Repository), Digest: digest.Digest(im.Digest)})
		if err != nil {
			t.Fatal(err)
		}
		v.att.Add(occ)
	}
}

// export writes the release folder of images, verifies their attestations as sync does
// (fetched from the server, checked with the signer's key) and exports them into out.
func (v *vendor) export(t testing.TB, version string, images []releasetest.Image, out string, since *bundle.Previous) (*bundle.Manifest, bundle.ExportStats, string) {
	t.Helper()
	ctx := context.Background()
	relDir := filepath.Join(filepath.Dir(out), "release-"+version+"-"+filepath.Base(out))
	if err := os.MkdirAll(relDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := releasetest.WriteRelease(relDir, version, v.reg.Host, images); err != nil {
		t.Fatal(err)
	}
	folder, err := manifest.Load(relDir, manifest.WithVendorRegistry(v.reg.Host), manifest.WithPrefix("/"))
	if err != nil {
		t.Fatal(err)
	}
	exp, occs := v.verified(t, folder.Images())
	var files []manifest.File
	var versions []string
	for _, r := range folder.Releases {
		files = append(files, r.Files...)
		versions = append(versions, r.Version)
	}
	m, st, err := bundle.Export(ctx, out, exp,
		bundle.WithRelease(relDir, files), bundle.WithReleases(versions...),
		bundle.WithAttestations(attest.Bundle{Address: v.att.URL, Occurrences: occs}, v.signer.Fingerprint()),
		bundle.WithToolVersion("test"), bundle.WithSince(since), bundle.WithSystemContext(insecure),
	)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return m, st, relDir
}

// verified fetches and verifies the attestations of images, as sync does.
func (v *vendor) verified(t testing.TB, images []manifest.Image) ([]bundle.Image, []attest.Occurrence) {
	t.Helper()
	ctx := context.Background()
	client, err := attest.NewClient(v.att.URL, attest.WithToken("vendor-token"), attest.WithHTTPClient(v.att.Client()))
	if err != nil {
		t.Fatal(err)
	}
	var subs []attest.Subject
	for _, im := range images {
		subs = append(subs, attest.Subject{Repository: im.Source.Name(), Digest: im.Source.Digest})
	}
	occs, err := client.ListFor(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	ver := operatorVerifier(t, v.signer)
	var out []bundle.Image
	for i, im := range images {
		if _, err := ver.Verify(subs[i], occs); err != nil {
			t.Fatalf("vendor attestation of %s: %v", im.Dest, err)
		}
		out = append(out, bundle.Image{Name: im.Dest.String(), Source: im.Source.String(), Digest: im.Source.Digest,
			Ref: dockerRef(t, im.Source.Pullable()), Attested: true})
	}
	return out, occs
}

func operatorVerifier(t testing.TB, s *attesttest.Signer) *attest.Verifier {
	t.Helper()
	kr, err := s.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func dockerRef(t testing.TB, s string) types.ImageReference {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := docker.NewReference(named)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// importAll copies every verified image of b into target under its name, as sync
// --from-bundle would, and checks each digest.
func importAll(t *testing.T, b *bundle.Bundle, s *bundle.Summary, target *testbed.Registry, earlier ...*bundle.Bundle) {
	t.Helper()
	ctx := context.Background()
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	for _, r := range s.Results {
		if !r.OK {
			continue
		}
		src, err := b.ImageReference(r.Name, earlier...)
		if err != nil {
			t.Fatal(err)
		}
		dst := dockerRef(t, target.Host+"/"+r.Name)
		man, err := copy.Image(ctx, pc, dst, src, &copy.Options{DestinationCtx: insecure,
			ImageListSelection: copy.CopyAllImages, PreserveDigests: true, ReportWriter: io.Discard})
		if err != nil {
			t.Fatalf("importing %s: %v", r.Name, err)
		}
		if got := digest.FromBytes(man); got != r.Digest {
			t.Errorf("%s: pushed %s, want %s", r.Name, got, r.Digest)
		}
		d, err := docker.GetDigest(ctx, insecure, dst)
		if err != nil || d != r.Digest {
			t.Errorf("target %s: %s %v, want %s", r.Name, d, err, r.Digest)
		}
	}
}

// dirBytes is the bytes of the files under dir.
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// copyDir copies a bundle folder for an attack.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "bundle")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
