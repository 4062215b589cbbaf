package evidence

import "time"

// Scheme is where a piece of evidence is (or was put).
type Scheme string

const (
	// SchemeReferrersAPI: an OCI 1.1 referrer found through the registry's referrers API.
	SchemeReferrersAPI Scheme = "referrers-api"
	// SchemeReferrersTag: the OCI 1.1 referrers tag scheme ("sha256-<hex>" image index),
	// for registries without the API and for ECR refusing an index subject (405).
	SchemeReferrersTag Scheme = "referrers-tag"
	// SchemeCosignTag: cosign's signature tag "sha256-<hex>.sig", what `cosign verify` and
	// Kyverno's verifyImages read by default.
	SchemeCosignTag Scheme = "cosign-tag"
)

// Status is the state of one piece of evidence for one image.
type Status string

const (
	StatusValid   Status = "valid"   // present and verified; nothing was pushed
	StatusAdded   Status = "added"   // was missing or invalid; pushed now
	StatusMissing Status = "missing" // absent (Verify)
	StatusInvalid Status = "invalid" // present but none verifies (Verify)
	// StatusBlocked: missing or invalid, and could not be added because the repository
	// will not overwrite the fallback tag (IMMUTABLE). Nothing was deleted.
	StatusBlocked Status = "blocked"
	StatusError   Status = "error" // could not be checked (network, registry errors)
)

// Record is the evidence of one image, for the report.
type Record struct {
	Image       string             `json:"image"` // "host/repo@sha256:<hex>"
	Attestation *AttestationRecord `json:"attestation,omitempty"`
	Signature   *SignatureRecord   `json:"signature,omitempty"`
	// ManifestPushes counts the manifest PUTs of this call (ECR PutImage calls), including
	// refused ones.
	ManifestPushes int `json:"manifestPushes"`
}

// AttestationRecord describes the vendor-attestation artifact of an image.
type AttestationRecord struct {
	Status   Status `json:"status"`
	Scheme   Scheme `json:"scheme,omitempty"`
	Artifact string `json:"artifact,omitempty"` // digest of the artifact manifest
	// From the occurrence that verified (Verify) or was stored (Ensure).
	Occurrence  string    `json:"occurrence,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Source      string    `json:"source,omitempty"` // vendor repository the occurrence is about
	VerifiedAt  time.Time `json:"verifiedAt,omitzero"`
	SignedAt    time.Time `json:"signedAt,omitzero"`
	Problems    []string  `json:"problems,omitempty"`
}

// SignatureRecord describes the bank's cosign signature of an image.
type SignatureRecord struct {
	Status Status `json:"status"`
	Scheme Scheme `json:"scheme,omitempty"`
	Tag    string `json:"tag,omitempty"`
	// Key is the SHA-256 fingerprint of the bank key's DER public key (KeyFingerprint).
	Key      string   `json:"key,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

func (s Status) ok() bool { return s == StatusValid || s == StatusAdded }

// OK reports whether every piece of evidence asked for is there and valid.
func (r Record) OK() bool {
	return (r.Attestation == nil || r.Attestation.Status.ok()) && (r.Signature == nil || r.Signature.Status.ok())
}
