package tmsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/image/v5/docker"
)

// Retryable reports whether another try of what failed with err may succeed. It decides
// by the error's structure only, never by its text:
//
//   - a registry's HTTP status (containers/image's docker.UnexpectedHTTPStatusError, its
//     ErrTooManyRequests, or the status of a registry error code, errcode.Error): 408,
//     429 and 5xx are temporary, every other status is not;
//   - a network error (net.Error, a reset or refused connection, a broken pipe, a body
//     cut short: io.ErrUnexpectedEOF) is temporary, unless it is a TLS certificate that
//     does not verify;
//   - an AWS error is temporary when the SDK's own retryables say so (throttling,
//     timeouts, 5xx) or it is a server fault;
//   - a refused credential, a digest mismatch, a tag conflict, a cancelled context and
//     anything else are not.
//
// The engine retries what Retryable accepts (WithRetries), and renews an expiring
// target's credentials once after a refused one (CredentialInvalidator).
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var perm *permanentError
	if errors.As(err, &perm) || errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrTagConflict) || unauthorized(err) {
		return false
	}
	if status, ok := httpStatus(err); ok {
		return retryableStatus(status)
	}
	if errors.Is(err, docker.ErrTooManyRequests) {
		return true
	}
	var ec errcode.Error
	if errors.As(err, &ec) {
		return retryableStatus(ec.Code.Descriptor().HTTPStatusCode)
	}
	// An AWS error (ECR credentials, tag lookups) comes after the SDK's own retries.
	var api smithy.APIError
	if errors.As(err, &api) {
		return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary ||
			api.ErrorFault() == smithy.FaultServer
	}
	var certInvalid *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	if errors.As(err, &certInvalid) || errors.As(err, &unknownCA) || errors.As(err, &hostname) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// httpStatus returns the HTTP status an error in err's chain carries in an int field
// StatusCode: containers/image's docker.UnexpectedHTTPStatusError, and its unexported
// error for a response whose body it could not parse (a HEAD's, which has none), whose
// status would otherwise be only in its text.
func httpStatus(err error) (int, bool) {
	for _, e := range chain(err) {
		v := reflect.ValueOf(e)
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				break
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			continue
		}
		if f := v.FieldByName("StatusCode"); f.IsValid() && f.CanInt() {
			return int(f.Int()), true
		}
	}
	return 0, false
}

// chain is err and every error it wraps, depth first.
func chain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chain(e)...)
		}
	}
	return out
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
	var ec errcode.Error
	return errors.As(err, &ec) && ec.Code.Descriptor().Value == "UNAUTHORIZED"
}
