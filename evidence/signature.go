package evidence

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// cosign's storage of a signature (sigstore/cosign pkg/oci/remote, pkg/oci/static,
// pkg/oci/empty, pkg/types): an OCI image manifest tagged "sha256-<hex>.sig" in the
// image's repository, empty config, one layer per signature holding the simple-signing
// payload, with the base64 signature in the layer descriptor's annotation. cosign itself
// is not imported (its module would pull Rekor, Fulcio and TUF clients into the binary);
// the manifest, config and payload are still written by go-containerregistry and
// sigstore's payload package, and `cosign verify` checks the result in the tests.
const (
	// CosignSignatureMediaType is the layer media type of a cosign signature.
	CosignSignatureMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// CosignSignatureAnnotation holds the base64 signature of the layer's payload.
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	cosignTagSuffix           = ".sig"
	maxPayloadBytes           = 64 << 10
	// maxSignatureLayers bounds the signatures read from one .sig manifest (each is a
	// blob fetch); cosign appends one per signing.
	maxSignatureLayers = 100
)

// SignatureTag is cosign's tag for the signatures of d: "sha256-<hex>.sig".
func SignatureTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + cosignTagSuffix)
}

// cosignPayload is the simple-signing payload cosign signs for ref: critical.identity is
// the repository the image is in (its destination), critical.image the digest.
func cosignPayload(ref name.Digest) ([]byte, error) {
	return payload.Cosign{Image: ref}.MarshalJSON()
}

// emptySignatures is cosign's empty signature image (pkg/oci/empty.Signatures): OCI
// manifest and config media types.
func emptySignatures() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// signatureImage is the cosign signature manifest with the layers of base (nil: none) and
// one more layer for (payload, sig). Existing layers are kept: cosign appends too.
func signatureImage(base v1.Image, pl, sig []byte) (v1.Image, error) {
	if base == nil {
		base = emptySignatures()
	}
	return mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(pl, CosignSignatureMediaType),
		Annotations: map[string]string{CosignSignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
}

// bankSignatures reads cosign's signature manifest of ref. It returns (nil, nil) when the
// tag does not exist.
func (o *op) bankSignatures(ref name.Digest) (v1.Image, error) {
	img, err := remote.Image(SignatureTag(ref), o.opts...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", SignatureTag(ref), err)
	}
	return img, nil
}

// findBankSignature looks through the layers of sigs for a signature by pub over a payload
// bound to ref (digest and repository). It returns the index of the first valid layer, or
// -1 and the reasons the others failed.
func findBankSignature(sigs v1.Image, ref name.Digest, pub crypto.PublicKey) (int, []string, error) {
	if sigs == nil {
		return -1, nil, nil
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return -1, nil, fmt.Errorf("loading the bank's public key: %w", err)
	}
	m, err := sigs.Manifest()
	if err != nil {
		return -1, nil, fmt.Errorf("reading %s: %w", SignatureTag(ref), err)
	}
	var reasons []string
	if len(m.Layers) > maxSignatureLayers {
		reasons = append(reasons, fmt.Sprintf("%d signature layers; only the first %d read", len(m.Layers), maxSignatureLayers))
	}
	for i, l := range m.Layers {
		if i >= maxSignatureLayers {
			break
		}
		if l.MediaType != CosignSignatureMediaType {
			continue
		}
		reason := checkSignatureLayer(sigs, l, ref, verifier)
		if reason == "" {
			return i, nil, nil
		}
		reasons = append(reasons, fmt.Sprintf("layer %d (%s): %s", i, l.Digest, reason))
	}
	if len(reasons) == 0 {
		reasons = []string{"no cosign signature layer"}
	}
	return -1, reasons, nil
}

// checkSignatureLayer returns "" when the layer is a valid bank signature for ref, else why
// not. The signature is checked before the payload is parsed.
func checkSignatureLayer(sigs v1.Image, l v1.Descriptor, ref name.Digest, verifier signature.Verifier) string {
	b64 := l.Annotations[CosignSignatureAnnotation]
	if b64 == "" {
		return "no " + CosignSignatureAnnotation + " annotation"
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "signature is not base64"
	}
	if l.Size > maxPayloadBytes {
		return fmt.Sprintf("payload of %d bytes", l.Size)
	}
	layer, err := sigs.LayerByDigest(l.Digest)
	if err != nil {
		return "payload: " + err.Error()
	}
	rc, err := layer.Compressed()
	if err != nil {
		return "payload: " + err.Error()
	}
	pl, err := io.ReadAll(io.LimitReader(rc, maxPayloadBytes+1))
	rc.Close()
	if err != nil {
		return "payload: " + err.Error()
	}
	if h, _, err := v1.SHA256(bytes.NewReader(pl)); err != nil || h != l.Digest {
		return "payload does not match its digest"
	}
	if err := verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pl)); err != nil {
		return "signature does not verify under the bank key"
	}
	var p payload.Cosign
	if err := p.UnmarshalJSON(pl); err != nil {
		return "payload: " + err.Error()
	}
	if p.Image.DigestStr() != ref.DigestStr() {
		return fmt.Sprintf("signed digest %s, image is %s", p.Image.DigestStr(), ref.DigestStr())
	}
	if !sameRepository(p.ClaimedIdentity, ref.Context()) {
		return fmt.Sprintf("signed for %q, image is in %q", p.ClaimedIdentity, ref.Context().Name())
	}
	return ""
}

// sameRepository compares a signed docker-reference with the image's repository, both
// parsed the same way (so "index.docker.io/library/x" equals "x").
func sameRepository(signed string, repo name.Repository) bool {
	r, err := name.NewRepository(signed)
	if err != nil {
		return false
	}
	return r.Name() == repo.Name()
}

// pushSignature adds a bank signature for ref to cosign's signature manifest (created when
// absent, appended to otherwise: nothing is removed).
func (o *op) pushSignature(ref name.Digest, base v1.Image, signer Signer, immutable bool) error {
	if base != nil && immutable {
		return fmt.Errorf("%w: %s exists without a valid bank signature; not rewritten", ErrTagImmutable, SignatureTag(ref).TagStr())
	}
	pl, err := cosignPayload(ref)
	if err != nil {
		return fmt.Errorf("making the signature payload of %s: %w", ref, err)
	}
	sig, err := signer.SignPayload(o.ctx, pl)
	if err != nil {
		return err
	}
	img, err := signatureImage(base, pl, sig)
	if err != nil {
		return fmt.Errorf("making the signature manifest of %s: %w", ref, err)
	}
	tag := SignatureTag(ref)
	if err := remote.Write(tag, img, o.opts...); err != nil {
		if base != nil && isTagRefused(err) {
			return fmt.Errorf("%w: %s: %v", ErrTagImmutable, tag, err)
		}
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	return nil
}
