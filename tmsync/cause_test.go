package tmsync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"go.podman.io/image/v5/docker"

	"github.com/tmsync/tmsync/attest"
)

// TestClassifyError: the cause comes from the structure of the error, however deeply
// wrapped (fmt %w, url.Error, errors.Join, attest's multi-error), never from its text.
func TestClassifyError(t *testing.T) {
	wrap := func(err error) error {
		return fmt.Errorf("copying vault/a:1: %w", fmt.Errorf("writing blob: %w", err))
	}
	urlErr := func(err error) error { return &url.Error{Op: "Put", URL: "https://r/v2/x/blobs/uploads/", Err: err} }
	rejected := func(reasons ...error) error {
		e := &attest.RejectedError{Subject: attest.Subject{Repository: "r/x"}}
		for _, r := range reasons {
			e.Reasons = append(e.Reasons, attest.Reason{Reason: r.Error(), Err: r})
		}
		return e
	}
	for _, tc := range []struct {
		name string
		err  error
		want Cause
	}{
		{"nil", nil, ""},
		{"canceled", wrap(context.Canceled), CauseCanceled},
		{"interrupted", fmt.Errorf("%w: %v", ErrInterrupted, context.Canceled), CauseCanceled},
		{"deadline", wrap(context.DeadlineExceeded), CauseTimeout},
		{"net timeout", wrap(urlErr(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded})), CauseTimeout},
		{"UNAUTHORIZED code", wrap(errcode.ErrorCodeUnauthorized.WithMessage("authentication required")), CauseUnauthorized},
		{"401 for credentials", wrap(docker.ErrUnauthorizedForCredentials{Err: errors.New("x")}), CauseUnauthorized},
		{"DENIED code", wrap(errcode.ErrorCodeDenied.WithMessage("no")), CauseDenied},
		{"NAME_UNKNOWN", wrap(errcode.Error{Code: v2.ErrorCodeNameUnknown, Message: "repository name not known to registry"}), CauseNameUnknown},
		{"MANIFEST_UNKNOWN", wrap(errcode.Error{Code: v2.ErrorCodeManifestUnknown}), CauseManifestUnknown},
		{"TOOMANYREQUESTS", wrap(errcode.ErrorCodeTooManyRequests.WithMessage("slow down")), CauseTooManyRequests},
		{"errcode in a list", wrap(errcode.Errors{errcode.ErrorCodeDenied.WithMessage("no")}), CauseDenied},
		{"429", wrap(docker.ErrTooManyRequests), CauseTooManyRequests},
		{"503 status", wrap(docker.UnexpectedHTTPStatusError{StatusCode: 503}), CauseServerError},
		{"404 status", wrap(docker.UnexpectedHTTPStatusError{StatusCode: 404}), "http-404"},
		{"403 status", wrap(docker.UnexpectedHTTPStatusError{StatusCode: 403}), CauseDenied},
		{"unparsed 401", wrap(&unparsedResponse{StatusCode: 401}), CauseUnauthorized},
		{"aws access denied", wrap(&smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}), CauseDenied},
		{"aws expired token", wrap(&smithy.GenericAPIError{Code: "ExpiredTokenException"}), CauseUnauthorized},
		{"aws repository not found", wrap(&smithy.GenericAPIError{Code: "RepositoryNotFoundException"}), CauseNameUnknown},
		{"aws throttling", wrap(&smithy.GenericAPIError{Code: "ThrottlingException"}), CauseTooManyRequests},
		{"aws server fault", wrap(&smithy.GenericAPIError{Code: "InternalFailure", Fault: smithy.FaultServer}), CauseServerError},
		{"refused", wrap(urlErr(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})), CauseConnectionRefused},
		{"reset", wrap(urlErr(&net.OpError{Op: "read", Err: syscall.ECONNRESET})), CauseConnectionReset},
		{"cut body", wrap(io.ErrUnexpectedEOF), CauseConnectionReset},
		{"dns", wrap(urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}})), CauseDNS},
		{"unknown CA", wrap(urlErr(x509.UnknownAuthorityError{})), CauseTLS},
		{"wrong host in cert", wrap(urlErr(x509.HostnameError{Host: "r"})), CauseTLS},
		{"expired cert, unwrapped", wrap(urlErr(x509.CertificateInvalidError{Reason: x509.Expired})), CauseTLS},
		{"bare ErrorCode", wrap(errcode.ErrorCodeUnavailable), CauseServerError},
		{"aborted", wrap(syscall.ECONNABORTED), CauseConnectionReset},
		{"other net error", wrap(urlErr(&net.OpError{Op: "dial", Err: errors.New("network is down")})), CauseNetwork},
		{"no attestation", wrap(&attest.RejectedError{NoAttestation: true}), CauseNoAttestation},
		{"no attestation, bare sentinel", fmt.Errorf("%w: no occurrence for x", attest.ErrNoAttestation), CauseNoAttestation},
		{"bad signature", wrap(rejected(attest.ErrBadSignature)), CauseAttestationSignature},
		{"unknown key", wrap(rejected(attest.ErrUnknownKey)), CauseAttestationSignature},
		{"wrong digest", wrap(rejected(attest.ErrDigestMismatch)), CauseAttestationDigest},
		// One occurrence signed by an unknown key, another vouching for another digest:
		// a valid signature for the wrong image is the cause worth saying.
		{"unknown key and wrong digest", wrap(rejected(attest.ErrUnknownKey, attest.ErrDigestMismatch)), CauseAttestationDigest},
		{"malformed occurrence", wrap(rejected(attest.ErrMalformed)), CauseAttestationInvalid},
		{"attestation server refused", &attest.UnavailableError{Op: "listing", Err: attest.ErrUnauthorized}, CauseUnauthorized},
		{"attestation server down", &attest.UnavailableError{Op: "listing", Err: urlErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})}, CauseConnectionRefused},
		{"attestation server odd", &attest.UnavailableError{Op: "listing", Err: attest.ErrBadResponse}, CauseAttestationUnavailable},
		{"tag conflict", wrap(fmt.Errorf("%w: a", ErrTagConflict)), CauseTagConflict},
		{"digest mismatch", &permanentError{fmt.Errorf("%w: pushed x", ErrDigestMismatch)}, CauseDigestMismatch},
		{"joined: first known", errors.Join(errors.New("x"), wrap(errcode.ErrorCodeDenied.WithMessage("no"))), CauseDenied},
		// By structure, never by text.
		{"text of a refusal", errors.New("dial tcp: connect: connection refused"), CauseOther},
		{"text of a 401", errors.New("unauthorized: authentication required (401)"), CauseOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyError(tc.err); got != tc.want {
				t.Errorf("ClassifyError(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
