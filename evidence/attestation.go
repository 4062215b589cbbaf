package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/tmsync/tmsync/attest"
)

// The vendor-attestation artifact (OCI 1.1 image manifest used as an artifact).
const (
	// AttestationArtifactType is the artifactType of the artifact that carries the vendor's
	// attestation of an image.
	AttestationArtifactType = "application/vnd.tmsync.vendor-attestation.v1+json"
	// OccurrenceMediaType is the media type of its one layer: the Grafeas v1beta1
	// occurrence exactly as the vendor's server sent it (signed payload and signature).
	OccurrenceMediaType = "application/vnd.tmsync.grafeas-occurrence.v1+json"

	// Annotations of the artifact manifest.
	AnnotationFingerprint = "io.tmsync.vendor.key-fingerprint" // primary-key fingerprint that verified it
	AnnotationOccurrence  = "io.tmsync.vendor.occurrence"      // occurrence name
	AnnotationSource      = "io.tmsync.vendor.repository"      // vendor repository the occurrence is about
	AnnotationVerifiedAt  = "io.tmsync.verified-at"            // RFC 3339, when tmsync verified it
	AnnotationVersion     = "io.tmsync.version"                // tmsync version that verified it
	// AnnotationSubject carries the subject digest in an artifact pushed without a
	// subject field (ECR refusing the subject with 405): the binding then rests on it.
	AnnotationSubject = "io.tmsync.subject"
	annotationCreated = "org.opencontainers.image.created"

	maxOccurrenceBlob = 1 << 20
	maxReferrers      = 1000
)

// emptyConfig is the OCI 1.1 empty descriptor's content.
var emptyConfig = []byte("{}")

// VendorAttestation is what Ensure stores: the occurrence that verified an image, as
// received, and the facts of its verification.
type VendorAttestation struct {
	// Occurrence is the occurrence as served; its Raw bytes are stored unchanged.
	Occurrence attest.Occurrence
	// Verification is the result of attest.Verifier.Verify for Source.
	Verification attest.Verification
	// Source is what the vendor signed: its repository and the image digest.
	Source attest.Subject
	// VerifiedAt is when tmsync verified it. Default: the client's clock.
	VerifiedAt time.Time
}

// attestationManifest builds the artifact manifest for att about subject (nil subject:
// the 405 fallback, bound by AnnotationSubject instead).
func (c *Client) attestationManifest(att VendorAttestation, subject *v1.Descriptor, subjectDigest string) (v1.Manifest, v1.Layer, v1.Layer, error) {
	if len(att.Occurrence.Raw) == 0 {
		return v1.Manifest{}, nil, nil, fmt.Errorf("attestation of %s: occurrence %q has no raw bytes", att.Source, att.Occurrence.Name)
	}
	at := att.VerifiedAt
	if at.IsZero() {
		at = c.now()
	}
	cfg := static.NewLayer(emptyConfig, types.OCIEmptyJSON)
	occ := static.NewLayer(att.Occurrence.Raw, OccurrenceMediaType)
	cfgDesc, err := partialDescriptor(cfg)
	if err != nil {
		return v1.Manifest{}, nil, nil, err
	}
	cfgDesc.Data = emptyConfig
	occDesc, err := partialDescriptor(occ)
	if err != nil {
		return v1.Manifest{}, nil, nil, err
	}
	ann := map[string]string{
		AnnotationFingerprint: att.Verification.Fingerprint,
		AnnotationOccurrence:  att.Occurrence.Name,
		AnnotationSource:      att.Source.Repository,
		AnnotationVerifiedAt:  at.UTC().Format(time.RFC3339),
		AnnotationVersion:     c.version,
		annotationCreated:     at.UTC().Format(time.RFC3339),
	}
	if subject == nil {
		ann[AnnotationSubject] = subjectDigest
	}
	return v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  AttestationArtifactType,
		Config:        cfgDesc,
		Layers:        []v1.Descriptor{occDesc},
		Subject:       subject,
		Annotations:   ann,
	}, cfg, occ, nil
}

func partialDescriptor(l v1.Layer) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	sz, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: sz}, nil
}

// rawManifest is a manifest go-containerregistry pushes as is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// attestationArtifact is an attestation artifact found in the registry.
type attestationArtifact struct {
	digest   v1.Hash
	manifest *v1.Manifest
	via      Scheme
}

// attestationArtifacts lists the tmsync attestation artifacts whose subject is ref: through
// the referrers API, else the referrers tag, whichever the registry offers.
func (o *op) attestationArtifacts(ref name.Digest) ([]attestationArtifact, Scheme, error) {
	api, err := o.referrersAPI(ref)
	if err != nil {
		return nil, "", err
	}
	scheme := SchemeReferrersTag
	if api {
		scheme = SchemeReferrersAPI
	}
	descs, err := o.referrerDescriptors(ref)
	if err != nil {
		return nil, scheme, err
	}
	var out []attestationArtifact
	for _, d := range descs {
		// Registries fill artifactType differently (some with the config media type), so
		// every candidate is read and its own artifactType decides.
		if d.ArtifactType != "" && d.ArtifactType != AttestationArtifactType && d.ArtifactType != string(types.OCIEmptyJSON) {
			continue
		}
		if d.MediaType != types.OCIManifestSchema1 {
			continue
		}
		m, err := o.manifest(ref.Context().Digest(d.Digest.String()))
		if err != nil {
			return nil, scheme, err
		}
		if m.ArtifactType != AttestationArtifactType || !boundTo(m, ref) {
			continue
		}
		out = append(out, attestationArtifact{digest: d.Digest, manifest: m, via: scheme})
	}
	// The 405 fallback artifact has no subject: the referrers API does not list it, the
	// referrers tag does.
	if api {
		tagged, err := o.taggedReferrers(ref)
		if err != nil {
			return nil, scheme, err
		}
		for _, d := range tagged {
			if d.ArtifactType != AttestationArtifactType {
				continue
			}
			m, err := o.manifest(ref.Context().Digest(d.Digest.String()))
			if err != nil {
				return nil, scheme, err
			}
			if m.ArtifactType == AttestationArtifactType && boundTo(m, ref) {
				out = append(out, attestationArtifact{digest: d.Digest, manifest: m, via: SchemeReferrersTag})
			}
		}
	}
	return out, scheme, nil
}

// boundTo reports whether an artifact manifest is about ref: by its subject, or (405
// fallback) by AnnotationSubject when it has none.
func boundTo(m *v1.Manifest, ref name.Digest) bool {
	if m.Subject != nil {
		return m.Subject.Digest.String() == ref.DigestStr()
	}
	return m.Annotations[AnnotationSubject] == ref.DigestStr()
}

// referrerDescriptors lists the referrers of ref (API, or the tag scheme when the
// registry has no API), bounded.
func (o *op) referrerDescriptors(ref name.Digest) ([]v1.Descriptor, error) {
	descs, err := o.listReferrers(ref)
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", ref, err)
	}
	if len(descs) > maxReferrers {
		return nil, fmt.Errorf("listing the referrers of %s: more than %d", ref, maxReferrers)
	}
	return descs, nil
}

func (o *op) listReferrers(ref name.Digest) ([]v1.Descriptor, error) {
	// A registry found (by the probe, once per host and run) to answer the referrers API
	// with anything but an image index is read through the referrers tag directly, as
	// remote.Referrers would after asking the API again: one request per image less.
	if api, err := o.referrersAPI(ref); err == nil && !api {
		return o.taggedReferrers(ref)
	}
	idx, err := remote.Referrers(ref, o.opts...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return im.Manifests, nil
}

// taggedReferrers reads the referrers tag index of ref ("sha256-<hex>"); nil when absent.
func (o *op) taggedReferrers(ref name.Digest) ([]v1.Descriptor, error) {
	idx, err := o.referrersTagIndex(ref)
	if err != nil || idx == nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ReferrersTag(ref), err)
	}
	return im.Manifests, nil
}

func (o *op) referrersTagIndex(ref name.Digest) (v1.ImageIndex, error) {
	tag := ReferrersTag(ref)
	idx, err := remote.Index(tag, o.opts...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	return idx, nil
}

// ReferrersTag is the OCI 1.1 referrers tag of d: "sha256-<hex>".
func ReferrersTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1))
}

func (o *op) manifest(ref name.Digest) (*v1.Manifest, error) {
	desc, err := remote.Get(ref, o.opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &m, nil
}

// occurrenceOf reads the occurrence layer of an attestation artifact.
func (o *op) occurrenceOf(ref name.Digest, m *v1.Manifest) (attest.Occurrence, error) {
	if len(m.Layers) != 1 || m.Layers[0].MediaType != OccurrenceMediaType {
		return attest.Occurrence{}, fmt.Errorf("artifact has no single %s layer", OccurrenceMediaType)
	}
	l := m.Layers[0]
	if l.Size > maxOccurrenceBlob {
		return attest.Occurrence{}, fmt.Errorf("occurrence of %d bytes", l.Size)
	}
	layer, err := remote.Layer(ref.Context().Digest(l.Digest.String()), o.opts...)
	if err != nil {
		return attest.Occurrence{}, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return attest.Occurrence{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxOccurrenceBlob+1))
	if err != nil {
		return attest.Occurrence{}, err
	}
	if h, _, err := v1.SHA256(bytes.NewReader(b)); err != nil || h != l.Digest {
		return attest.Occurrence{}, fmt.Errorf("occurrence blob does not match its digest %s", l.Digest)
	}
	return attest.ParseOccurrence(b)
}

// pushAttestation pushes the artifact for att about ref. It returns the scheme used.
func (o *op) pushAttestation(ref name.Digest, subject v1.Descriptor, att VendorAttestation, immutable bool) (Scheme, v1.Hash, error) {
	api, err := o.referrersAPI(ref)
	if err != nil {
		return "", v1.Hash{}, err
	}
	host := ref.Context().RegistryStr()
	o.c.mu.Lock()
	skipSubject := api && subject.MediaType.IsIndex() && o.c.indexSubject405[host]
	o.c.mu.Unlock()
	if !api || skipSubject {
		// The referrers tag will be written: on an immutable repository it must not
		// exist yet.
		if immutable {
			idx, err := o.referrersTagIndex(ref)
			if err != nil {
				return "", v1.Hash{}, err
			}
			if idx != nil {
				return SchemeReferrersTag, v1.Hash{}, fmt.Errorf("%w: %s exists without this attestation; not rewritten", ErrTagImmutable, ReferrersTag(ref).TagStr())
			}
		}
	}
	m, cfg, occ, err := o.c.attestationManifest(att, &subject, ref.DigestStr())
	if err != nil {
		return "", v1.Hash{}, err
	}
	for _, l := range []v1.Layer{cfg, occ} {
		if err := remote.WriteLayer(ref.Context(), l, o.opts...); err != nil {
			return "", v1.Hash{}, fmt.Errorf("pushing the attestation of %s: %w", ref, err)
		}
	}
	if !skipSubject {
		h, err := o.putManifest(ref, m)
		if err == nil {
			// go-containerregistry updated the referrers tag itself when the registry
			// has no referrers API.
			if api {
				return SchemeReferrersAPI, h, nil
			}
			return SchemeReferrersTag, h, nil
		}
		if isTagRefused(err) {
			return SchemeReferrersTag, h, fmt.Errorf("%w: %s: %v", ErrTagImmutable, ReferrersTag(ref), err)
		}
		if statusOf(err) != http.StatusMethodNotAllowed {
			return "", v1.Hash{}, fmt.Errorf("pushing the attestation of %s: %w", ref, err)
		}
		// ECR can refuse a manifest whose subject is an index (405,
		// aws/containers-roadmap#2783). Remembered per host, so the next index costs no
		// refused PutImage.
		o.c.log.Debug("subject refused, falling back to the referrers tag", "image", ref.String(), "err", err)
		if subject.MediaType.IsIndex() {
			o.c.mu.Lock()
			o.c.indexSubject405[host] = true
			o.c.mu.Unlock()
		}
		if immutable {
			if idx, err := o.referrersTagIndex(ref); err != nil {
				return "", v1.Hash{}, err
			} else if idx != nil {
				return SchemeReferrersTag, v1.Hash{}, fmt.Errorf("%w: %s exists without this attestation; not rewritten", ErrTagImmutable, ReferrersTag(ref).TagStr())
			}
		}
	}
	// The artifact without a subject, bound by an annotation, listed under the referrers
	// tag.
	m, _, _, err = o.c.attestationManifest(att, nil, ref.DigestStr())
	if err != nil {
		return "", v1.Hash{}, err
	}
	h, err := o.putManifest(ref, m)
	if err != nil {
		return "", v1.Hash{}, fmt.Errorf("pushing the attestation of %s without subject: %w", ref, err)
	}
	if err := o.addToReferrersTag(ref, m, h); err != nil {
		return SchemeReferrersTag, h, err
	}
	return SchemeReferrersTag, h, nil
}

func (o *op) putManifest(ref name.Digest, m v1.Manifest) (v1.Hash, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	return h, remote.Put(ref.Context().Digest(h.String()), rawManifest{raw: raw, mt: types.OCIManifestSchema1}, o.opts...)
}

// addToReferrersTag adds the artifact (digest h) to the referrers tag index of ref, keeping
// every entry it had.
func (o *op) addToReferrersTag(ref name.Digest, m v1.Manifest, h v1.Hash) error {
	tag := ReferrersTag(ref)
	idx, err := o.referrersTagIndex(ref)
	if err != nil {
		return err
	}
	if idx == nil {
		idx = empty.Index
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading %s: %w", tag, err)
	}
	for _, d := range im.Manifests {
		if d.Digest == h {
			return nil
		}
	}
	raw, _ := json.Marshal(m)
	descs := append([]v1.Descriptor(nil), im.Manifests...)
	descs = append(descs, v1.Descriptor{
		MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw)),
		ArtifactType: m.ArtifactType, Annotations: m.Annotations,
	})
	sort.Slice(descs, func(i, j int) bool { return descs[i].Digest.String() < descs[j].Digest.String() })
	// The same index go-containerregistry writes for the tag scheme (remote/write.go).
	out, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		return err
	}
	if err := remote.Put(tag, rawManifest{raw: out, mt: types.OCIImageIndex}, o.opts...); err != nil {
		if isTagRefused(err) {
			return fmt.Errorf("%w: %s: %v", ErrTagImmutable, tag, err)
		}
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	return nil
}
