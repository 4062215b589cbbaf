package evidence_test

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/tmsync/tmsync/evidence"
)

// TestCopyReferrers copies a vendor SBOM referrer and the vendor's signature of it from a registry with the referrers API
// to one with (digest preserved, listed by the API) and one without (listed in the
// referrers tag), and a re-run pushes nothing.
func TestCopyReferrers(t *testing.T) {
	ctx := context.Background()
	src := referrersRegistry(t)
	img := pushImage(t, src+"/vendor/app", false)
	ref := mustDigest(t, img)
	head, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	// The vendor's SBOM: an OCI 1.1 artifact whose subject is the image.
	sbom := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	sbom = mutate.ConfigMediaType(sbom, "application/spdx+json")
	sbom, err = mutate.AppendLayers(sbom, static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3"}`), "application/spdx+json"))
	if err != nil {
		t.Fatal(err)
	}
	sbom = mutate.Subject(sbom, *head).(v1.Image)
	sd, _ := sbom.Digest()
	if err := remote.Write(ref.Context().Digest(sd.String()), sbom); err != nil {
		t.Fatal(err)
	}
	// The vendor's signature of the SBOM: a referrer of a referrer.
	sbomDesc, err := remote.Head(ref.Context().Digest(sd.String()))
	if err != nil {
		t.Fatal(err)
	}
	sig := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	sig = mutate.ConfigMediaType(sig, "application/vnd.cncf.notary.signature")
	sig, err = mutate.AppendLayers(sig, static.NewLayer([]byte("not really a JWS"), "application/jose+json"))
	if err != nil {
		t.Fatal(err)
	}
	sig = mutate.Subject(sig, *sbomDesc).(v1.Image)
	sigd, _ := sig.Digest()
	if err := remote.Write(ref.Context().Digest(sigd.String()), sig); err != nil {
		t.Fatal(err)
	}

	for _, rk := range registries {
		t.Run(rk.name, func(t *testing.T) {
			dst := rk.start(t)
			// The image itself is copied first (tmsync's job), digest preserved.
			srcImg, err := remote.Image(ref)
			if err != nil {
				t.Fatal(err)
			}
			dstImg := evidence.Image{Repository: dst + "/bank/app", Digest: img.Digest}
			if err := remote.Write(mustDigest(t, dstImg), srcImg); err != nil {
				t.Fatal(err)
			}
			c := newClient(t)
			out, err := c.CopyReferrers(ctx, img, dstImg.Repository)
			if err != nil || len(out.Referrers) != 2 || out.Referrers[0].Status != "copied" || out.Referrers[0].Digest != sd.String() ||
				out.Referrers[1].Status != "copied" || out.Referrers[1].Digest != sigd.String() || out.Referrers[1].Subject != sd.String() {
				t.Fatalf("CopyReferrers: %v %s", err, js(out))
			}
			for _, d := range []string{sd.String(), sigd.String()} {
				if _, err := remote.Head(mustDigest(t, dstImg).Context().Digest(d)); err != nil {
					t.Fatalf("%s is not at the destination under its digest: %v", d, err)
				}
			}
			nested, err := remote.Referrers(mustDigest(t, dstImg).Context().Digest(sd.String()))
			if err != nil {
				t.Fatal(err)
			}
			if im, _ := nested.IndexManifest(); len(im.Manifests) != 1 || im.Manifests[0].Digest != sigd {
				t.Fatalf("referrers of the SBOM at the destination: %s", js(im))
			}
			idx, err := remote.Referrers(mustDigest(t, dstImg))
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			if len(im.Manifests) != 1 || im.Manifests[0].Digest != sd {
				t.Fatalf("destination referrers: %s", js(im))
			}
			again, err := c.CopyReferrers(ctx, img, dstImg.Repository)
			if err != nil || again.ManifestPushes != 0 || len(again.Referrers) != 2 || again.Referrers[0].Status != "present" || again.Referrers[1].Status != "present" {
				t.Fatalf("re-run: %v %s", err, js(again))
			}
		})
	}
}
