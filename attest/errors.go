package attest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. A *RejectedError unwraps to ErrRejected and to the sentinel of each of its
// reasons; an *UnavailableError unwraps to its cause (ErrUnauthorized, ErrNotFound, a network
// error, ...).
var (
	// ErrRejected: the attestations were checked and none vouches for the image.
	ErrRejected = errors.New("attestation rejected")
	// ErrNoAttestation: there is no occurrence at all for the image.
	ErrNoAttestation = errors.New("no attestation for the image")

	// ErrUnauthorized: the server answered 401 or 403 (wrong or expired token).
	ErrUnauthorized = errors.New("attestation server refused the token (401/403)")
	// ErrNotFound: the server answered 404 (wrong address, project or note).
	ErrNotFound = errors.New("attestation endpoint not found (404): check the address")
	// ErrUnexpectedStatus: any other non-2xx answer after retries.
	ErrUnexpectedStatus = errors.New("unexpected HTTP status from attestation server")
	// ErrBadResponse: the answer could not be decoded.
	ErrBadResponse = errors.New("malformed answer from attestation server")
	// ErrListingLimit: the server sent more than a listing limit allows (ListLimits); the
	// error is a *LimitError.
	ErrListingLimit = errors.New("attestation server sent more than the listing limits allow")
	// ErrInsecureRedirect: the server redirected an https request to http (or another
	// scheme); the redirect is not followed.
	ErrInsecureRedirect = errors.New("attestation server redirected to an insecure URL (from https to http, or to plain http off this machine); not followed")

	// Reasons for rejecting one occurrence or signature.
	ErrResourceMismatch = errors.New("occurrence is about another resource")
	ErrMalformed        = errors.New("malformed occurrence")
	ErrNoSignature      = errors.New("occurrence holds no signature")
	ErrBadEncoding      = errors.New("signature is not valid base64 or armor")
	ErrClearSigned      = errors.New("clear-signed message (an attached signed message is required)")
	ErrDetached         = errors.New("detached signature (an attached signed message is required)")
	ErrNotSigned        = errors.New("message is not signed")
	ErrUnknownKey       = errors.New("signed by a key that is not in the attestor keyring")
	ErrBadSignature     = errors.New("signature does not verify")
	ErrKeyExpired       = errors.New("signing key expired at signing time")
	// ErrKeyExpiredSinceSigning: the signature is dated inside the key's validity but the
	// key has expired since; refused only with WithStrictKeyExpiry.
	ErrKeyExpiredSinceSigning = errors.New("signing key has expired since the signature's date (strict key expiry)")
	// ErrWeakHash: the message signature (or the binding of the signing subkey) uses a hash
	// other than SHA-2 or SHA-3: SHA-1, MD5, RIPEMD-160 or an unknown one.
	ErrWeakHash           = errors.New("signature uses a hash that is not accepted (only SHA-2 and SHA-3)")
	ErrKeyRevoked         = errors.New("signing key is revoked")
	ErrSignatureExpired   = errors.New("signature expired")
	ErrSignedInFuture     = errors.New("signature creation time is in the future")
	ErrTooLarge           = errors.New("signed content too large")
	ErrPayloadMismatch    = errors.New("signed content differs from serializedPayload")
	ErrKeyIDMismatch      = errors.New("publicKeyId/pgpKeyId does not name the signing key")
	ErrBadPayload         = errors.New("signed payload is not valid simple-signing JSON")
	ErrUnknownType        = errors.New("unknown critical.type in payload")
	ErrDigestMismatch     = errors.New("payload signs another digest")
	ErrRepositoryMismatch = errors.New("payload signs another repository")
)

// Reason is why one occurrence (or one signature of it) did not vouch for the image.
// Occurrence and Reason hold remote text with control characters escaped ([Sanitize]).
type Reason struct {
	Occurrence string // occurrence name, empty when there was none
	Reason     string // human-readable reason
	Err        error  // the sentinel (ErrDigestMismatch, ...); errors.Is works on it
	// KeyID is, with Err ErrUnknownKey, the id of the key that signed as the signature
	// names it (an [UnknownKeyError]'s); "" when it names none, and for other reasons.
	KeyID string
}

func (r Reason) String() string {
	if r.Occurrence == "" {
		return Sanitize(r.Reason)
	}
	return Sanitize(r.Occurrence) + ": " + Sanitize(r.Reason)
}

// RejectedError says the image was checked and no occurrence vouches for it.
type RejectedError struct {
	Subject Subject
	Reasons []Reason
	// NoAttestation is true when no occurrence at all was found for the subject.
	NoAttestation bool
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "attestation rejected for %s", Sanitize(e.Subject.String()))
	if e.NoAttestation {
		b.WriteString(": no attestation")
		return b.String()
	}
	for i, r := range e.Reasons {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// Unwrap gives ErrRejected, ErrNoAttestation when there was none, and each reason's sentinel.
func (e *RejectedError) Unwrap() []error {
	errs := []error{ErrRejected}
	if e.NoAttestation {
		errs = append(errs, ErrNoAttestation)
	}
	for _, r := range e.Reasons {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errs
}

// UnknownKeyError is a signature by a key that is not in the attestor keyring, which
// names its key by id. It matches ErrUnknownKey; a Reason carries its KeyID.
type UnknownKeyError struct {
	KeyID string // the signing key's id as the signature gives it: 16 hex digits, upper case
}

func (e *UnknownKeyError) Error() string { return ErrUnknownKey.Error() + ": key id " + e.KeyID }

// Unwrap gives ErrUnknownKey.
func (e *UnknownKeyError) Unwrap() error { return ErrUnknownKey }

// LimitError says a listing was stopped at one of its limits.
type LimitError struct {
	Limit string // the ListLimits field: "MaxOccurrences", "MaxBytes", "MaxPageBytes", "MaxPages", "Timeout"
	What  string // what was counted: "occurrences", "bytes in one page", ...
	Max   int64  // the limit (a time.Duration for Timeout)
}

func (e *LimitError) Error() string {
	if e.Limit == "Timeout" {
		return fmt.Sprintf("attestation server sent more than a listing may take: not done within %s (listing limit %s)", time.Duration(e.Max), e.Limit)
	}
	return fmt.Sprintf("attestation server sent more than %d %s (listing limit %s)", e.Max, e.What, e.Limit)
}

// Unwrap gives ErrListingLimit.
func (e *LimitError) Unwrap() error { return ErrListingLimit }

// UnavailableError says the attestations could not be checked (network, server, token).
type UnavailableError struct {
	Op  string // what was being done: "listing occurrences", ...
	Err error
}

// Error escapes control characters of remote text ([Sanitize]).
func (e *UnavailableError) Error() string {
	return Sanitize("attestations unavailable: " + e.Op + ": " + e.Err.Error())
}

func (e *UnavailableError) Unwrap() error { return e.Err }
