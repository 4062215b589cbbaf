package tmsync

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/image/v5/docker"

	"github.com/tmsync/tmsync/tmsync/internal/regerr"
)

// Retryable reports whether another try of what failed with err may succeed. It decides
// by the error's structure only, never by its text:
//
//   - a cancelled context (the run was interrupted), a refused credential, a digest
//     mismatch, a tag conflict and an error marked permanent are not temporary;
//   - an AWS error is temporary when the SDK's own retryables say so (throttling,
//     timeouts, 5xx) or it is a server fault;
//   - anything else as the registry and network classifier that the vendor puller shares
//     (regerr.Classify) says: 408, 429 and 5xx, whatever the body (a CDN's HTML page
//     included), a registry error code by its HTTP status, and network faults, a stall
//     included, are temporary; a certificate that does not verify, any TLS failure that
//     ClassifyError calls CauseTLS, and every other status are not; what it does not
//     know is not.
//
// The engine retries what Retryable accepts (WithRetries), and renews an expiring
// target's credentials once after a refused one (CredentialInvalidator).
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var perm *permanentError
	if errors.As(err, &perm) || errors.Is(err, ErrDigestMismatch) || sizeMismatch(err) || errors.Is(err, ErrTagConflict) || unauthorized(err) {
		return false
	}
	// An AWS error (ECR credentials, tag lookups) comes after the SDK's own retries.
	var api smithy.APIError
	if errors.As(err, &api) {
		return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary ||
			api.ErrorFault() == smithy.FaultServer
	}
	return regerr.Retryable(err)
}

// permanentError marks an error that another try cannot fix.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// unauthorized reports whether a registry refused the credential (401).
func unauthorized(err error) bool {
	var unauth docker.ErrUnauthorizedForCredentials
	if errors.As(err, &unauth) {
		return true
	}
	code, ok := regerr.Code(err)
	return ok && code == errcode.ErrorCodeUnauthorized
}
