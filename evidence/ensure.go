package evidence

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/tmsync/tmsync/attest"
)

// Evidence is what Ensure puts next to an image. A nil field is not asked for.
type Evidence struct {
	Attestation *VendorAttestation
	Signer      Signer
	// Vendor, when set, also accepts an existing attestation artifact whose occurrence
	// differs in bytes from Attestation's (the vendor's server re-serialised it, or
	// re-attested) but verifies under the vendor key for the same source and digest.
	// Without it, only the same bytes count.
	Vendor *attest.Verifier
}

// Ensure makes img carry its evidence: it first reads what is there, keeps what is valid
// and adds only what is missing or invalid; it never deletes. A re-run over complete
// evidence pushes nothing. Per piece, the record says valid / added / blocked; the error
// joins what could not be done (ErrTagImmutable for a blocked one).
//
// A valid attestation is an artifact of AttestationArtifactType bound to img.Digest whose
// occurrence layer has the digest of ev.Attestation.Occurrence.Raw (same bytes, so the
// same verified occurrence) and whose source repository is ev.Attestation.Source's. A
// valid signature is a cosign signature layer under the signer's public key over a payload
// naming img.Digest and img.Repository.
//
// Manifest pushes: the attestation costs 1 with the referrers API, 2 with the referrers tag
// (artifact + tag index); the signature costs 1. Both together: 2 on ECR for an image
// manifest, 3 where the tag scheme is needed.
func (c *Client) Ensure(ctx context.Context, img Image, ev Evidence) (Record, error) {
	o := c.newOp(ctx)
	rec := Record{Image: img.String()}
	ref, subject, err := o.resolve(&img)
	if err != nil {
		return rec, err
	}
	var errs []error
	if ev.Attestation != nil {
		r, err := o.ensureAttestation(ref, subject, *ev.Attestation, ev.Vendor, img.ImmutableTags)
		rec.Attestation = r
		errs = append(errs, err)
	}
	if ev.Signer != nil {
		r, err := o.ensureSignature(ref, ev.Signer, img.ImmutableTags)
		rec.Signature = r
		errs = append(errs, err)
	}
	rec.ManifestPushes = int(o.pushes.Load())
	return rec, errors.Join(errs...)
}

func (o *op) ensureAttestation(ref name.Digest, subject v1.Descriptor, att VendorAttestation, vendor *attest.Verifier, immutable bool) (*AttestationRecord, error) {
	at := att.VerifiedAt
	if at.IsZero() {
		at = o.c.now()
		att.VerifiedAt = at
	}
	r := &AttestationRecord{
		Occurrence:  att.Occurrence.Name,
		Fingerprint: att.Verification.Fingerprint,
		Source:      att.Source.Repository,
		SignedAt:    att.Verification.SignedAt,
	}
	want, _, err := v1.SHA256(bytesReader(att.Occurrence.Raw))
	if err != nil {
		return nil, err
	}
	found, scheme, err := o.attestationArtifacts(ref)
	if err != nil {
		r.Status = StatusError
		return r, err
	}
	for _, a := range found {
		if len(a.manifest.Layers) == 1 && a.manifest.Layers[0].Digest == want &&
			a.manifest.Annotations[AnnotationSource] == att.Source.Repository {
			r.Status, r.Scheme, r.Artifact = StatusValid, a.via, a.digest.String()
			r.VerifiedAt = parseTime(a.manifest.Annotations[AnnotationVerifiedAt])
			return r, nil
		}
	}
	if vendor != nil {
		for _, a := range found {
			if a.manifest.Annotations[AnnotationSource] != att.Source.Repository {
				continue
			}
			occ, err := o.occurrenceOf(ref.Context().Digest(a.digest.String()), a.manifest)
			if err != nil {
				continue
			}
			if ver, err := vendor.Verify(att.Source, []attest.Occurrence{occ}); err == nil {
				r.Status, r.Scheme, r.Artifact = StatusValid, a.via, a.digest.String()
				r.Occurrence, r.Fingerprint, r.SignedAt = ver.Occurrence, ver.Fingerprint, ver.SignedAt
				r.VerifiedAt = parseTime(a.manifest.Annotations[AnnotationVerifiedAt])
				return r, nil
			}
		}
	}
	if len(found) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d attestation artifact(s) of another occurrence kept", len(found)))
	}
	r.Scheme = scheme
	s, h, err := o.pushAttestation(ref, subject, att, immutable)
	if s != "" {
		r.Scheme = s
	}
	if h != (v1.Hash{}) {
		r.Artifact = h.String()
	}
	switch {
	case errors.Is(err, ErrTagImmutable):
		r.Status = StatusBlocked
		r.Problems = append(r.Problems, err.Error())
		return r, err
	case err != nil:
		r.Status = StatusError
		return r, err
	}
	r.Status, r.VerifiedAt = StatusAdded, at
	return r, nil
}

func (o *op) ensureSignature(ref name.Digest, signer Signer, immutable bool) (*SignatureRecord, error) {
	r := &SignatureRecord{Scheme: SchemeCosignTag, Tag: SignatureTag(ref).TagStr(), Key: KeyFingerprint(signer.PublicKey())}
	sigs, err := o.bankSignatures(ref)
	if err != nil {
		r.Status = StatusError
		return r, err
	}
	i, reasons, err := findBankSignature(sigs, ref, signer.PublicKey())
	if err != nil {
		r.Status = StatusError
		return r, err
	}
	if i >= 0 {
		r.Status = StatusValid
		return r, nil
	}
	if sigs != nil {
		r.Problems = reasons
	}
	if err := o.pushSignature(ref, sigs, signer, immutable); err != nil {
		if errors.Is(err, ErrTagImmutable) {
			r.Status = StatusBlocked
			r.Problems = append(r.Problems, err.Error())
			return r, err
		}
		r.Status = StatusError
		return r, err
	}
	r.Status = StatusAdded
	return r, nil
}

// Checks say what Verify checks. A nil field is not checked.
type Checks struct {
	// Vendor verifies the occurrence in the attestation artifact.
	Vendor *attest.Verifier
	// VendorRepository, when set, is the vendor repository the occurrence must be about
	// (the image's source); otherwise the artifact's AnnotationSource is used. Either way
	// the occurrence must verify for that repository and the image's digest.
	VendorRepository string
	// BankKey verifies the cosign signature.
	BankKey crypto.PublicKey
}

// Verify checks the evidence of img without changing anything. It returns the record and,
// when some evidence is missing or invalid, an *EvidenceError naming the image.
func (c *Client) Verify(ctx context.Context, img Image, chk Checks) (Record, error) {
	o := c.newOp(ctx)
	rec := Record{Image: img.String()}
	ref, _, err := o.resolveRef(img)
	if err != nil {
		return rec, err
	}
	ee := &EvidenceError{Image: img.String()}
	var hard []error
	if chk.Vendor != nil {
		r, err := o.verifyAttestation(ref, chk)
		rec.Attestation = r
		if err != nil {
			hard = append(hard, err)
		} else if !r.Status.ok() {
			ee.add(r.Status, "vendor attestation "+string(r.Status), r.Problems)
		}
	}
	if chk.BankKey != nil {
		r, err := o.verifySignature(ref, chk.BankKey)
		rec.Signature = r
		if err != nil {
			hard = append(hard, err)
		} else if !r.Status.ok() {
			ee.add(r.Status, "bank signature "+string(r.Status), r.Problems)
		}
	}
	rec.ManifestPushes = int(o.pushes.Load())
	if len(ee.Problems) > 0 {
		hard = append(hard, ee)
	}
	return rec, errors.Join(hard...)
}

func (e *EvidenceError) add(s Status, what string, problems []string) {
	msg := what
	if len(problems) > 0 {
		// Problems quote registry content: escape control characters.
		msg += " (" + attest.Sanitize(joinShort(problems)) + ")"
	}
	e.Problems = append(e.Problems, msg)
	if s == StatusMissing {
		e.kinds = append(e.kinds, ErrMissing)
	} else {
		e.kinds = append(e.kinds, ErrInvalid)
	}
}

// resolveRef is resolve without asking the registry: Verify needs no subject descriptor.
func (o *op) resolveRef(img Image) (name.Digest, Image, error) {
	repo, err := o.c.repository(img.Repository)
	if err != nil {
		return name.Digest{}, img, err
	}
	if err := img.Digest.Validate(); err != nil {
		return name.Digest{}, img, fmt.Errorf("image %q: %w", img.String(), err)
	}
	return repo.Digest(string(img.Digest)), img, nil
}

func (o *op) verifyAttestation(ref name.Digest, chk Checks) (*AttestationRecord, error) {
	r := &AttestationRecord{}
	found, scheme, err := o.attestationArtifacts(ref)
	r.Scheme = scheme
	if err != nil {
		r.Status = StatusError
		return r, err
	}
	if len(found) == 0 {
		r.Status = StatusMissing
		return r, nil
	}
	for _, a := range found {
		src := chk.VendorRepository
		if src == "" {
			src = a.manifest.Annotations[AnnotationSource]
		}
		occ, err := o.occurrenceOf(ref.Context().Digest(a.digest.String()), a.manifest)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", a.digest, err))
			continue
		}
		ver, err := chk.Vendor.Verify(attest.Subject{Repository: src, Digest: digestOf(ref)}, []attest.Occurrence{occ})
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", a.digest, err))
			continue
		}
		r.Status, r.Scheme, r.Artifact = StatusValid, a.via, a.digest.String()
		r.Occurrence, r.Fingerprint, r.Source, r.SignedAt = ver.Occurrence, ver.Fingerprint, src, ver.SignedAt
		r.VerifiedAt = parseTime(a.manifest.Annotations[AnnotationVerifiedAt])
		r.Problems = nil
		return r, nil
	}
	r.Status = StatusInvalid
	return r, nil
}

func (o *op) verifySignature(ref name.Digest, pub crypto.PublicKey) (*SignatureRecord, error) {
	r := &SignatureRecord{Scheme: SchemeCosignTag, Tag: SignatureTag(ref).TagStr(), Key: KeyFingerprint(pub)}
	sigs, err := o.bankSignatures(ref)
	if err != nil {
		r.Status = StatusError
		return r, err
	}
	if sigs == nil {
		r.Status = StatusMissing
		return r, nil
	}
	i, reasons, err := findBankSignature(sigs, ref, pub)
	if err != nil {
		r.Status = StatusError
		return r, err
	}
	if i < 0 {
		r.Status, r.Problems = StatusInvalid, reasons
		return r, nil
	}
	r.Status = StatusValid
	return r, nil
}
