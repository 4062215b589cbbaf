package tmsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
	"go.podman.io/image/v5/docker"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
	"github.com/tmsync/tmsync/tmsync/internal/regerr"
)

// Sentinel errors of the engine. An Attestor's errors are attest's: attest.ErrNoAttestation,
// attest.ErrRejected and *attest.UnavailableError (see Attestor).
var (
	// ErrTagConflict: the destination tag exists and points to another digest.
	ErrTagConflict = errors.New("destination tag points to another digest")
	// ErrDigestMismatch: what was pushed (or found) is not the digest the release pins.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrInterrupted: the run was stopped before the image was done.
	ErrInterrupted = errors.New("interrupted")
	// ErrWrongAttestorKey: every vendor image's attestation is signed by a key the
	// attestor keyring does not hold (a *StartError of the run, not one per image).
	ErrWrongAttestorKey = errors.New("wrong attestor key")
	// errNotStarted is the failure of an image the interruption came before: nothing of
	// it was tried (ReasonNotStarted).
	errNotStarted = fmt.Errorf("not started: the run was %w", ErrInterrupted)
)

// ReasonNotStarted is the reason of an image an interrupted run never started: its error
// log line says so instead of a step that failed (ImageRecord.NotStarted).
const ReasonNotStarted = "not started: the run was interrupted"

// interruption is ErrInterrupted for an image ctx's end cut short in the middle of what
// (" while copying"), saying why when the context's cause says more than that it was
// cancelled (the command line's cause names the signal: "interrupted while copying
// (SIGTERM received)"); never Go's "context canceled".
func interruption(ctx context.Context, what string) error {
	cause := context.Cause(ctx)
	switch {
	case cause == nil || cause == context.Canceled:
		return fmt.Errorf("%w%s", ErrInterrupted, what)
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("%w%s (the run's deadline passed)", ErrInterrupted, what)
	default:
		return fmt.Errorf("%w%s (%v)", ErrInterrupted, what, cause)
	}
}

// StartError is an error that stopped a run before any image was processed: bad flags, a
// bad release folder, no credentials. The command line exits with status 2 on it.
type StartError struct {
	Op  string
	Err error
}

func (e *StartError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

func startErr(op string, err error) error { return &StartError{Op: op, Err: err} }

// Cause is a machine-readable class of an image's failure, for grouping many failures
// that have one reason (the console says them once) and for tools reading the report.
// It is derived from the error's structure (typed errors, registry error codes, HTTP
// statuses, network errors), never from its text. Values are lower-case words joined by
// "-"; new ones may be added.
type Cause string

// Causes of failure.
const (
	CauseCanceled          Cause = "canceled"          // the run was interrupted
	CauseTimeout           Cause = "timeout"           // a deadline passed (network or context)
	CauseUnauthorized      Cause = "unauthorized"      // credentials missing, wrong or expired (401, UNAUTHORIZED)
	CauseDenied            Cause = "denied"            // credentials valid, access refused (403, DENIED, AccessDenied)
	CauseNameUnknown       Cause = "name-unknown"      // repository unknown (NAME_UNKNOWN, RepositoryNotFound)
	CauseManifestUnknown   Cause = "manifest-unknown"  // tag or digest not in the repository (MANIFEST_UNKNOWN, 404 on a manifest)
	CauseBlobUnknown       Cause = "blob-unknown"      // a blob the manifest names is missing (BLOB_UNKNOWN)
	CauseTooManyRequests   Cause = "too-many-requests" // rate limited (429, TOOMANYREQUESTS, throttling)
	CauseServerError       Cause = "server-error"      // the server failed (5xx, AWS server fault)
	CauseConnectionRefused Cause = "connection-refused"
	CauseConnectionReset   Cause = "connection-reset" // reset or aborted, broken pipe, or a body cut short (io.ErrUnexpectedEOF, io.EOF)
	CauseDNS               Cause = "dns"              // the host name does not resolve
	CauseTLS               Cause = "tls"              // certificate not trusted, wrong host name, handshake failed
	CauseNetwork           Cause = "network"          // another network error
	CauseNoAttestation     Cause = "no-attestation"   // the vendor attests nothing for the image
	// CauseAttestationSignature: occurrences were found but no signature verifies with
	// the attestor keys (bad, unsigned, unknown, expired or revoked key, weak hash).
	CauseAttestationSignature Cause = "attestation-signature"
	// CauseAttestationDigest: a valid signature vouches for another digest, repository or
	// resource than the image's.
	CauseAttestationDigest  Cause = "attestation-digest"
	CauseAttestationInvalid Cause = "attestation-invalid" // another reason the attestations were rejected
	// CauseAttestationUnavailable: the attestation server could not be asked (and the
	// error says no more precise cause).
	CauseAttestationUnavailable Cause = "attestation-unavailable"
	CauseTagConflict            Cause = "tag-conflict"     // ErrTagConflict
	CauseDigestMismatch         Cause = "digest-mismatch"  // ErrDigestMismatch
	CauseScanFindings           Cause = "scan-findings"    // the scan gate found findings at its severity
	CauseScanUnavailable        Cause = "scan-unavailable" // the scan ended without findings to check (FAILED, UNSUPPORTED_IMAGE)
	CauseOther                  Cause = "other"            // none of the above
)

// sizeMismatch reports whether err is a source blob that is not the length its manifest
// declares (pull.SizeError): not the bytes the release pins, like a digest mismatch.
func sizeMismatch(err error) bool {
	var se *pull.SizeError
	return errors.As(err, &se)
}

// ClassifyError returns the Cause of err, looking through every error it wraps; "" for
// nil. HTTP statuses without a cause of their own give "http-NNN".
func ClassifyError(err error) Cause {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrInterrupted) || errors.Is(err, context.Canceled) {
		return CauseCanceled
	}
	if errors.Is(err, ErrTagConflict) {
		return CauseTagConflict
	}
	if errors.Is(err, ErrDigestMismatch) || sizeMismatch(err) {
		return CauseDigestMismatch
	}
	if c := attestationCause(err); c != "" {
		return c
	}
	if c := registryCause(err); c != "" {
		return c
	}
	if c := networkCause(err); c != "" {
		return c
	}
	if errors.As(err, new(*attest.UnavailableError)) {
		return CauseAttestationUnavailable
	}
	return CauseOther
}

// attestationCause is the cause of an attestation rejection, "" for another error.
func attestationCause(err error) Cause {
	if errors.Is(err, attest.ErrNoAttestation) {
		return CauseNoAttestation
	}
	if !errors.Is(err, attest.ErrRejected) {
		return ""
	}
	for _, s := range []error{attest.ErrDigestMismatch, attest.ErrRepositoryMismatch, attest.ErrResourceMismatch} {
		if errors.Is(err, s) {
			return CauseAttestationDigest
		}
	}
	for _, s := range []error{attest.ErrBadSignature, attest.ErrUnknownKey, attest.ErrNotSigned, attest.ErrNoSignature,
		attest.ErrKeyExpired, attest.ErrKeyExpiredSinceSigning, attest.ErrKeyRevoked, attest.ErrSignatureExpired,
		attest.ErrSignedInFuture, attest.ErrWeakHash, attest.ErrKeyIDMismatch, attest.ErrBadEncoding,
		attest.ErrClearSigned, attest.ErrDetached} {
		if errors.Is(err, s) {
			return CauseAttestationSignature
		}
	}
	return CauseAttestationInvalid
}

// registryCause is the cause a registry or AWS API said: an error code, an HTTP status,
// an AWS error code; "" when err carries none.
func registryCause(err error) Cause {
	if errors.As(err, new(docker.ErrUnauthorizedForCredentials)) || errors.Is(err, attest.ErrUnauthorized) {
		return CauseUnauthorized
	}
	if errors.Is(err, docker.ErrTooManyRequests) {
		return CauseTooManyRequests
	}
	// A registry error code: of a list, its first error speaks for it.
	if code, ok := regerr.Code(err); ok {
		switch code.Descriptor().Value {
		case "UNAUTHORIZED":
			return CauseUnauthorized
		case "DENIED":
			return CauseDenied
		case "NAME_UNKNOWN":
			return CauseNameUnknown
		case "MANIFEST_UNKNOWN":
			return CauseManifestUnknown
		case "BLOB_UNKNOWN":
			return CauseBlobUnknown
		case "TOOMANYREQUESTS":
			return CauseTooManyRequests
		}
		return statusCause(code.Descriptor().HTTPStatusCode)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case code == "AccessDeniedException" || code == "AccessDenied":
			return CauseDenied
		case code == "UnrecognizedClientException" || code == "InvalidClientTokenId" || code == "ExpiredTokenException" ||
			code == "ExpiredToken" || code == "InvalidSignatureException":
			return CauseUnauthorized
		case code == "RepositoryNotFoundException":
			return CauseNameUnknown
		case code == "ImageNotFoundException":
			return CauseManifestUnknown
		case strings.Contains(code, "Throttl") || code == "TooManyRequestsException" || code == "LimitExceededException":
			return CauseTooManyRequests
		case api.ErrorFault() == smithy.FaultServer:
			return CauseServerError
		}
	}
	if status, ok := regerr.Status(err); ok {
		return statusCause(status)
	}
	return ""
}

func statusCause(status int) Cause {
	switch {
	case status == http.StatusUnauthorized:
		return CauseUnauthorized
	case status == http.StatusForbidden:
		return CauseDenied
	case status == http.StatusTooManyRequests:
		return CauseTooManyRequests
	case status >= 500:
		return CauseServerError
	case status > 0:
		return Cause(fmt.Sprintf("http-%d", status))
	}
	return ""
}

// networkCause is the cause of a network error, "" for another error.
func networkCause(err error) Cause {
	if regerr.TLS(err) {
		return CauseTLS
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsTimeout {
			return CauseTimeout
		}
		return CauseDNS
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return CauseTimeout
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return CauseConnectionRefused
	}
	if regerr.ConnectionFault(err) {
		return CauseConnectionReset
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return CauseTimeout
		}
		return CauseNetwork
	}
	return ""
}
