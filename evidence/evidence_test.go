package evidence_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
)

// TestEnsureVerify is the end to end, per registry and per kind of image: both
// pieces of evidence are added, verify, a re-run pushes nothing, a deleted signature makes
// Verify name the image and Ensure restores it.
func TestEnsureVerify(t *testing.T) {
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank-evidence")
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	ctx := context.Background()
	for _, rk := range registries {
		for _, index := range []bool{false, true} {
			kind := "manifest"
			if index {
				kind = "index"
			}
			t.Run(rk.name+"/"+kind, func(t *testing.T) {
				host := rk.start(t)
				img := pushImage(t, host+"/bank/xpl_payees", index)
				c := newClient(t)
				ev := evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank}
				checks := evidence.Checks{Vendor: v.verifier, VendorRepository: vendorRepo, BankKey: bank.PublicKey()}

				rec, err := c.Ensure(ctx, img, ev)
				if err != nil {
					t.Fatalf("Ensure: %v", err)
				}
				if rec.Attestation.Status != evidence.StatusAdded || rec.Signature.Status != evidence.StatusAdded {
					t.Fatalf("first Ensure: %s", js(rec))
				}
				if rec.Attestation.Scheme != rk.scheme || rec.Signature.Scheme != evidence.SchemeCosignTag {
					t.Errorf("schemes %s/%s, want %s/%s", rec.Attestation.Scheme, rec.Signature.Scheme, rk.scheme, evidence.SchemeCosignTag)
				}
				wantPushes := 2
				if rk.scheme == evidence.SchemeReferrersTag {
					wantPushes = 3
				}
				if rec.ManifestPushes != wantPushes {
					t.Errorf("first Ensure pushed %d manifests, want %d", rec.ManifestPushes, wantPushes)
				}

				got, err := c.Verify(ctx, img, checks)
				if err != nil || !got.OK() {
					t.Fatalf("Verify after Ensure: %v\n%s", err, js(got))
				}
				if got.Attestation.Fingerprint != v.signer.Fingerprint() || got.Attestation.Artifact != rec.Attestation.Artifact ||
					got.Attestation.Source != vendorRepo || got.Signature.Key != evidence.KeyFingerprint(bank.PublicKey()) {
					t.Errorf("Verify record: %s", js(got))
				}

				again, err := c.Ensure(ctx, img, ev)
				if err != nil || again.ManifestPushes != 0 ||
					again.Attestation.Status != evidence.StatusValid || again.Signature.Status != evidence.StatusValid {
					t.Fatalf("re-run: %v, %s", err, js(again))
				}
				// A fresh client (no cached knowledge of the registry) finds it too.
				again, err = newClient(t).Ensure(ctx, img, ev)
				if err != nil || again.ManifestPushes != 0 {
					t.Fatalf("re-run with a new client: %v, %s", err, js(again))
				}

				// Delete the signature: Verify names the image, Ensure restores it.
				ref := mustDigest(t, img)
				sigTag := evidence.SignatureTag(ref)
				sd, err := remote.Head(sigTag)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Delete(ref.Context().Digest(sd.Digest.String())); err != nil {
					t.Fatalf("deleting the signature: %v", err)
				}
				// go-containerregistry's registry keeps a tag when its digest is deleted
				// (distribution and ECR do not); distribution refuses deletes by tag.
				_ = remote.Delete(sigTag)
				got, err = c.Verify(ctx, img, checks)
				var ee *evidence.EvidenceError
				if !errors.As(err, &ee) || ee.Image != img.String() || !errors.Is(err, evidence.ErrMissing) {
					t.Fatalf("Verify after deleting the signature: %v", err)
				}
				if !strings.Contains(err.Error(), img.String()) || got.Signature.Status != evidence.StatusMissing || got.Attestation.Status != evidence.StatusValid {
					t.Errorf("Verify after deleting the signature: %v\n%s", err, js(got))
				}
				rec, err = c.Ensure(ctx, img, ev)
				if err != nil || rec.Signature.Status != evidence.StatusAdded || rec.Attestation.Status != evidence.StatusValid || rec.ManifestPushes != 1 {
					t.Fatalf("Ensure after deleting the signature: %v, %s", err, js(rec))
				}
				if got, err := c.Verify(ctx, img, checks); err != nil || !got.OK() {
					t.Fatalf("Verify after restoring: %v", err)
				}
			})
		}
	}
}

func mustDigest(t *testing.T, img evidence.Image) name.Digest {
	t.Helper()
	d, err := name.NewDigest(img.String())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestReattested: the vendor's server hands out another occurrence for the same image (new
// bytes). With the vendor verifier, Ensure accepts the stored one and pushes nothing;
// without it, only the same bytes count and a second artifact is added, the first kept.
func TestReattested(t *testing.T) {
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	ctx := context.Background()
	host := referrersRegistry(t)
	img := pushImage(t, host+"/bank/app", false)
	c := newClient(t)
	if _, err := c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank}); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank, Vendor: v.verifier})
	if err != nil || rec.ManifestPushes != 0 || rec.Attestation.Status != evidence.StatusValid {
		t.Fatalf("re-attested, with the verifier: %v %s", err, js(rec))
	}
	// An impostor's artifact does not satisfy the verifier.
	impostor := newVendor(t)
	img2 := pushImage(t, host+"/bank/app", false)
	if _, err := c.Ensure(ctx, img2, evidence.Evidence{Attestation: impostor.attestation(t, img2.Digest)}); err != nil {
		t.Fatal(err)
	}
	rec, err = c.Ensure(ctx, img2, evidence.Evidence{Attestation: v.attestation(t, img2.Digest), Vendor: v.verifier})
	if err != nil || rec.Attestation.Status != evidence.StatusAdded || rec.ManifestPushes != 1 {
		t.Fatalf("impostor's artifact counted: %v %s", err, js(rec))
	}
	rec, err = c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest)})
	if err != nil || rec.Attestation.Status != evidence.StatusAdded || len(rec.Attestation.Problems) != 1 {
		t.Fatalf("re-attested, without the verifier: %v %s", err, js(rec))
	}
	idx, err := remote.Referrers(mustDigest(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if im, _ := idx.IndexManifest(); len(im.Manifests) != 2 {
		t.Errorf("%d referrers, want both artifacts", len(im.Manifests))
	}
}

// TestProbeUnknownRepository: a Verify against a repository that does not exist (404
// NAME_UNKNOWN on the referrers endpoint) must not make the client believe the registry
// has no referrers API.
func TestProbeUnknownRepository(t *testing.T) {
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	host := referrersRegistry(t)
	c := newClient(t)
	ctx := context.Background()
	img := pushImage(t, host+"/bank/app", false)
	ghost := evidence.Image{Repository: host + "/bank/never-pushed", Digest: img.Digest}
	if _, err := c.Verify(ctx, ghost, evidence.Checks{Vendor: v.verifier, BankKey: bank.PublicKey()}); !errors.Is(err, evidence.ErrMissing) {
		t.Fatalf("Verify of a missing repository: %v", err)
	}
	rec, err := c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest)})
	if err != nil || rec.Attestation.Scheme != evidence.SchemeReferrersAPI {
		t.Fatalf("after probing a missing repository: %v %s", err, js(rec))
	}
}
