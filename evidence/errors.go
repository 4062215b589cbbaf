package evidence

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrMissing: the evidence is not in the registry.
	ErrMissing = errors.New("evidence missing")
	// ErrInvalid: evidence is in the registry but none of it verifies.
	ErrInvalid = errors.New("evidence invalid")
	// ErrTagImmutable: a fallback tag (sha256-<hex> or sha256-<hex>.sig) already exists and
	// the repository refused to overwrite it (ECR IMMUTABLE). Nothing was deleted.
	ErrTagImmutable = errors.New("fallback tag exists and the repository refuses to overwrite it")
	// ErrUnsupportedKey: the KMS key cannot make signatures that cosign verifies.
	ErrUnsupportedKey = errors.New("unsupported signing key")
	// ErrPayloadTooLarge: a payload is larger than KMS signs as a RAW message (4096 bytes).
	ErrPayloadTooLarge = errors.New("payload too large for KMS RAW signing")
)

// EvidenceError is returned by [Client.Verify] when an image lacks valid evidence; it names
// the image and says what is wrong with each kind of evidence. errors.Is matches
// ErrMissing and ErrInvalid as they apply.
type EvidenceError struct {
	Image    string   // "host/repo@sha256:<hex>"
	Problems []string // one line per missing or invalid piece of evidence
	kinds    []error
}

func (e *EvidenceError) Error() string {
	return fmt.Sprintf("%s: %s", e.Image, strings.Join(e.Problems, "; "))
}

// Unwrap lets errors.Is find ErrMissing / ErrInvalid / ErrTagImmutable.
func (e *EvidenceError) Unwrap() []error { return e.kinds }
