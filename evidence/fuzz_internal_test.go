package evidence

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
)

// FuzzSignatureLayer feeds arbitrary payloads and signature annotations (registry content
// an attacker controls) to the signature check: it must not panic, and nothing but the
// bank's own signature over a payload for the image may pass.
func FuzzSignatureLayer(f *testing.F) {
	ref, err := name.NewDigest("127.0.0.1:5000/bank/app@sha256:abababababababababababababababababababababababababababababababab")
	if err != nil {
		f.Fatal(err)
	}
	good, _ := cosignPayload(ref)
	f.Add(good, "MEUCIQ==")
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"}}`), "")
	f.Add([]byte("null"), "%%%")
	f.Add([]byte{}, "AAAA")
	bank := newLocalSigner(f)
	f.Fuzz(func(t *testing.T, payload []byte, sig string) {
		img, err := mutate.Append(emptySignatures(), mutate.Addendum{
			Layer:       static.NewLayer(payload, CosignSignatureMediaType),
			Annotations: map[string]string{CosignSignatureAnnotation: sig},
		})
		if err != nil {
			t.Skip()
		}
		i, _, err := findBankSignature(img, ref, bank.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if i >= 0 {
			t.Fatalf("an unsigned layer passed: payload %q sig %q", payload, sig)
		}
		// The same payload really signed by the bank passes only when it names the image.
		s, err := bank.SignPayload(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		img, _ = signatureImage(nil, payload, s)
		if i, _, _ := findBankSignature(img, ref, bank.PublicKey()); i >= 0 && string(payload) != string(good) {
			checkNamesImage(t, payload, ref)
		}
	})
}

// checkNamesImage fails unless payload, as cosign reads it, names ref's digest and
// repository.
func checkNamesImage(t *testing.T, payload []byte, ref name.Digest) {
	t.Helper()
	var p cosignClaims
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("accepted a payload that is not JSON: %q", payload)
	}
	if p.Critical.Image.Digest != ref.DigestStr() || p.Critical.Type != "cosign container image signature" {
		t.Fatalf("accepted a payload for something else: %q", payload)
	}
}

type cosignClaims struct {
	Critical struct {
		Image struct {
			Digest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}
