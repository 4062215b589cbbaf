package evidence_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
)

// copyTag copies the manifest at from (with its blobs) to the tag to.
func copyTag(t *testing.T, from name.Reference, to name.Tag) {
	t.Helper()
	img, err := remote.Image(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(to, img); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRejects attacks the checks: evidence that is there but must not count.
func TestVerifyRejects(t *testing.T) {
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	other, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/someone-else")
	if err != nil {
		t.Fatal(err)
	}
	v, impostor := newVendor(t), newVendor(t)
	ctx := context.Background()
	for _, rk := range registries {
		t.Run(rk.name, func(t *testing.T) {
			host := rk.start(t)
			c := newClient(t)
			img := pushImage(t, host+"/bank/a", false)
			ref := mustDigest(t, img)
			checks := evidence.Checks{Vendor: v.verifier, VendorRepository: vendorRepo, BankKey: bank.PublicKey()}

			// Nothing yet: both missing.
			rec, err := c.Verify(ctx, img, checks)
			if !errors.Is(err, evidence.ErrMissing) || rec.Attestation.Status != evidence.StatusMissing || rec.Signature.Status != evidence.StatusMissing {
				t.Fatalf("empty: %v %s", err, js(rec))
			}

			// Signed by another key and attested by an impostor vendor: both invalid.
			if _, err := c.Ensure(ctx, img, evidence.Evidence{Attestation: impostor.attestation(t, img.Digest), Signer: other}); err != nil {
				t.Fatal(err)
			}
			rec, err = c.Verify(ctx, img, checks)
			if !errors.Is(err, evidence.ErrInvalid) || errors.Is(err, evidence.ErrMissing) ||
				rec.Attestation.Status != evidence.StatusInvalid || rec.Signature.Status != evidence.StatusInvalid {
				t.Fatalf("foreign evidence: %v %s", err, js(rec))
			}
			if !strings.Contains(strings.Join(rec.Signature.Problems, " "), "does not verify under the bank key") {
				t.Errorf("signature problems: %q", rec.Signature.Problems)
			}

			// Ensure adds ours next to theirs and deletes nothing.
			rec, err = c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank})
			if err != nil || rec.Signature.Status != evidence.StatusAdded || rec.Attestation.Status != evidence.StatusAdded {
				t.Fatalf("Ensure over foreign evidence: %v %s", err, js(rec))
			}
			sigs, err := remote.Image(evidence.SignatureTag(ref))
			if err != nil {
				t.Fatal(err)
			}
			if ls, _ := sigs.Layers(); len(ls) != 2 {
				t.Errorf("signature manifest has %d layers, want the foreign one and ours", len(ls))
			}
			if rec, err := c.Verify(ctx, img, checks); err != nil || !rec.OK() {
				t.Fatalf("Verify after Ensure: %v %s", err, js(rec))
			}

			// The occurrence must be about the vendor repository asked for.
			wrongSrc := checks
			wrongSrc.VendorRepository = "docker.external.thoughtmachine.io/vault/other"
			if rec, err := c.Verify(ctx, img, wrongSrc); !errors.Is(err, evidence.ErrInvalid) || rec.Attestation.Status != evidence.StatusInvalid {
				t.Errorf("other vendor repository: %v %s", err, js(rec))
			}

			// An attestation stored for this image but about another digest.
			img2 := pushImage(t, host+"/bank/b", false)
			att := v.attestation(t, img.Digest) // verified for img, stored on img2
			if _, err := c.Ensure(ctx, img2, evidence.Evidence{Attestation: att}); err != nil {
				t.Fatal(err)
			}
			rec, err = c.Verify(ctx, img2, evidence.Checks{Vendor: v.verifier, VendorRepository: vendorRepo})
			if !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(err.Error(), img2.String()) {
				t.Errorf("attestation of another digest: %v %s", err, js(rec))
			}

			// The bank's valid signature of img, copied to the same digest in another
			// repository: bound to the wrong destination.
			if err := remote.Write(mustDigest(t, evidence.Image{Repository: host + "/bank/c", Digest: img.Digest}), mustImage(t, ref)); err != nil {
				t.Fatal(err)
			}
			imgC := evidence.Image{Repository: host + "/bank/c", Digest: img.Digest}
			copyTag(t, evidence.SignatureTag(ref), evidence.SignatureTag(mustDigest(t, imgC)))
			rec, err = c.Verify(ctx, imgC, evidence.Checks{BankKey: bank.PublicKey()})
			if !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(strings.Join(rec.Signature.Problems, " "), "signed for") {
				t.Errorf("signature of another repository: %v %s", err, js(rec))
			}

			// The bank's valid signature of img2 put under img's... other digest: a
			// signature for img2 in img's .sig tag.
			if _, err := c.Ensure(ctx, img2, evidence.Evidence{Signer: bank}); err != nil {
				t.Fatal(err)
			}
			img3 := pushImage(t, host+"/bank/b", false)
			copyTag(t, evidence.SignatureTag(mustDigest(t, img2)), evidence.SignatureTag(mustDigest(t, img3)))
			rec, err = c.Verify(ctx, img3, evidence.Checks{BankKey: bank.PublicKey()})
			if !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(strings.Join(rec.Signature.Problems, " "), "signed digest") {
				t.Errorf("signature of another digest: %v %s", err, js(rec))
			}
		})
	}
}

func mustImage(t *testing.T, ref name.Reference) v1.Image {
	t.Helper()
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
