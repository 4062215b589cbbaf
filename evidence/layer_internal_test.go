package evidence

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/sigstore/sigstore/pkg/signature"
)

type localSigner struct{ sv signature.SignerVerifier }

func (s localSigner) SignPayload(_ context.Context, p []byte) ([]byte, error) {
	return s.sv.SignMessage(strings.NewReader(string(p)))
}
func (s localSigner) PublicKey() crypto.PublicKey { pk, _ := s.sv.PublicKey(); return pk }

func newLocalSigner(t testing.TB) localSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return localSigner{sv}
}

// TestSignatureLayerChecks attacks findBankSignature with hand-made signature layers.
func TestSignatureLayerChecks(t *testing.T) {
	bank, other := newLocalSigner(t), newLocalSigner(t)
	dg := func(s string) name.Digest {
		d, err := name.NewDigest(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ref := dg("127.0.0.1:5000/bank/app@sha256:" + strings.Repeat("ab", 32))
	otherDigest := dg("127.0.0.1:5000/bank/app@sha256:" + strings.Repeat("cd", 32))
	otherRepo := dg("127.0.0.1:5000/bank/other@sha256:" + strings.Repeat("ab", 32))
	ctx := context.Background()
	payloadFor := func(d name.Digest) []byte { p, _ := cosignPayload(d); return p }
	sign := func(s localSigner, p []byte) []byte { b, _ := s.SignPayload(ctx, p); return b }
	good := payloadFor(ref)

	for _, tc := range []struct {
		name    string
		payload []byte
		sig     []byte
		ann     map[string]string // replaces the annotations when set
		want    string            // "" = valid
	}{
		{"valid", good, sign(bank, good), nil, ""},
		{"other key", good, sign(other, good), nil, "does not verify"},
		{"other digest", payloadFor(otherDigest), sign(bank, payloadFor(otherDigest)), nil, "signed digest"},
		{"other repository", payloadFor(otherRepo), sign(bank, payloadFor(otherRepo)), nil, "signed for"},
		{"signature of other bytes", good, sign(bank, append([]byte(" "), good...)), nil, "does not verify"},
		{"no annotation", good, sign(bank, good), map[string]string{"x": "y"}, "no dev.cosignproject.cosign/signature"},
		{"not base64", good, nil, map[string]string{CosignSignatureAnnotation: "%%%"}, "not base64"},
		{"containers/image type", []byte(strings.Replace(string(good), "cosign container image signature", "atomic container signature", 1)),
			sign(bank, []byte(strings.Replace(string(good), "cosign container image signature", "atomic container signature", 1))), nil, "unknown type"},
		{"tag in the identity", []byte(strings.Replace(string(good), `"127.0.0.1:5000/bank/app"`, `"127.0.0.1:5000/bank/app:v1"`, 1)),
			sign(bank, []byte(strings.Replace(string(good), `"127.0.0.1:5000/bank/app"`, `"127.0.0.1:5000/bank/app:v1"`, 1))), nil, "signed for"},
		{"upper-case digest", []byte(strings.Replace(string(good), strings.Repeat("ab", 32), strings.Repeat("AB", 32), 1)),
			sign(bank, []byte(strings.Replace(string(good), strings.Repeat("ab", 32), strings.Repeat("AB", 32), 1))), nil, "payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := signatureImage(nil, tc.payload, tc.sig)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ann != nil {
				img = replaceLayerAnnotations(t, img, tc.ann)
			}
			i, reasons, err := findBankSignature(img, ref, bank.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if i != 0 {
					t.Fatalf("valid signature refused: %q", reasons)
				}
				return
			}
			if i >= 0 || len(reasons) != 1 || !strings.Contains(reasons[0], tc.want) {
				t.Fatalf("got index %d, reasons %q; want a refusal containing %q", i, reasons, tc.want)
			}
		})
	}

	// A valid signature after foreign ones is found; the foreign ones are reported only
	// when none is valid.
	img, _ := signatureImage(nil, good, sign(other, good))
	img, _ = signatureImage(img, good, sign(bank, good))
	if i, _, _ := findBankSignature(img, ref, bank.PublicKey()); i != 1 {
		t.Fatalf("second layer not found: %d", i)
	}
}

// replaceLayerAnnotations rebuilds img with its one layer annotated by ann.
func replaceLayerAnnotations(t *testing.T, img v1.Image, ann map[string]string) v1.Image {
	t.Helper()
	ls, err := img.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatal(err)
	}
	out, err := mutate.Append(emptySignatures(), mutate.Addendum{Layer: ls[0], Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
