package evidence_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
)

// TestKMSSigner: moto's KMS with the key specs cosign can verify, and the ones refused.
func TestKMSSigner(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	for _, tc := range []struct {
		spec    kmstypes.KeySpec
		wantErr error
	}{
		{kmstypes.KeySpecEccNistP256, nil},
		{kmstypes.KeySpecRsa2048, nil},
		{kmstypes.KeySpecEccNistP384, evidence.ErrUnsupportedKey},
		{kmstypes.KeySpecEccSecgP256k1, evidence.ErrUnsupportedKey},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			s, err := kmsKey(t, m, tc.spec, "alias/k-"+strings.ToLower(string(tc.spec)))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("NewKMSSigner: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			payload := []byte(`{"critical":{}}`)
			sig, err := s.SignPayload(ctx, payload)
			if err != nil {
				t.Fatal(err)
			}
			// The exported PEM, read back as cosign reads --key, verifies it.
			pem, err := evidence.PublicKeyPEM(s.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			pub, err := evidence.ReadPublicKeyPEM(pem)
			if err != nil {
				t.Fatal(err)
			}
			v, err := signature.LoadVerifier(pub, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)); err != nil {
				t.Fatalf("KMS signature does not verify: %v", err)
			}
			if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(append(payload, ' '))); err == nil {
				t.Fatal("signature verifies another payload")
			}
			if s.KMSKeyID() == "" || strings.HasPrefix(s.KMSKeyID(), "alias/") {
				t.Errorf("KMSKeyID %q: want the key, not the alias", s.KMSKeyID())
			}
			if _, err := s.SignPayload(ctx, make([]byte, 4097)); !errors.Is(err, evidence.ErrPayloadTooLarge) {
				t.Errorf("4097-byte payload: %v", err)
			}
		})
	}
	t.Run("encryption key", func(t *testing.T) {
		api := kms.NewFromConfig(m.Config())
		out, err := api.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evidence.NewKMSSigner(ctx, api, aws.ToString(out.KeyMetadata.Arn)); err == nil {
			t.Fatal("a symmetric ENCRYPT_DECRYPT key was accepted")
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := evidence.NewKMSSigner(ctx, kms.NewFromConfig(m.Config()), "alias/nope")
		if err == nil || !strings.Contains(err.Error(), "alias/nope") {
			t.Fatalf("unknown alias: %v", err)
		}
	})
}

// TestSignaturePayload reads back the payload Ensure signed: cosign's simple-signing
// shape naming the destination repository and the digest.
func TestSignaturePayload(t *testing.T) {
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	host := referrersRegistry(t)
	img := pushImage(t, host+"/bank/app", false)
	if _, err := newClient(t).Ensure(context.Background(), img, evidence.Evidence{Signer: bank}); err != nil {
		t.Fatal(err)
	}
	sigs := mustImage(t, evidence.SignatureTag(mustDigest(t, img)))
	mf, err := sigs.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if mf.MediaType != "application/vnd.oci.image.manifest.v1+json" || mf.Config.MediaType != "application/vnd.oci.image.config.v1+json" ||
		len(mf.Layers) != 1 || mf.Layers[0].MediaType != evidence.CosignSignatureMediaType || mf.Layers[0].Annotations[evidence.CosignSignatureAnnotation] == "" {
		t.Fatalf("signature manifest: %s", js(mf))
	}
	ls, _ := sigs.Layers()
	rc, _ := ls[0].Compressed()
	var p struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.NewDecoder(rc).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Critical.Identity.DockerReference != img.Repository || p.Critical.Image.Digest != string(img.Digest) ||
		p.Critical.Type != "cosign container image signature" {
		t.Errorf("payload: %+v", p)
	}
}
