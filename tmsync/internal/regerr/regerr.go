package regerr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"syscall"

	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/image/v5/docker"
)

// Verdict is what Classify says of an error.
type Verdict int

const (
	// Unknown: nothing in the error is a registry answer or a network fault this package
	// knows. The caller's own rules decide; by default such an error is not retried.
	Unknown Verdict = iota
	// Temporary: another try may succeed (408, 429, 5xx, a network fault, a stall).
	Temporary
	// Permanent: another try will fail the same way (another 4xx, a refused credential,
	// a certificate that does not verify).
	Permanent
)

func (v Verdict) String() string {
	switch v {
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Classify says whether another try of the request that failed with err may succeed,
// looking through every error err wraps (fmt's %w, errors.Join, url.Error, ...). In
// order, the first that applies decides:
//
//  1. a TLS failure (TLS): Permanent, even inside a net.Error;
//  2. a refused credential (docker.ErrUnauthorizedForCredentials): Permanent;
//  3. docker.ErrTooManyRequests: Temporary;
//  4. a registry error code (errcode.Error or errcode.ErrorCode; of an errcode.Errors
//     list, its first, as containers/image reads it): by the HTTP status its descriptor
//     gives, as in 5. A code the client does not know parses as UNKNOWN (500): Temporary;
//  5. the HTTP status of the answer (Status: containers/image's
//     docker.UnexpectedHTTPStatusError, or its unexported error for a 4xx whose body is
//     not a registry's JSON error list: an HTML page from a CDN, a HEAD's empty body):
//     408, 429 and 5xx are Temporary, any other status Permanent;
//  6. a network fault: a net.Error (a url.Error, a timeout, a dial or read failure), a
//     reset, refused or aborted connection, a broken pipe, a timed-out socket, or a
//     stream that ended before its answer did (io.ErrUnexpectedEOF, io.EOF returned as
//     an error): Temporary.
//
// A cancelled context is Unknown: whether it is the caller's own interruption only the
// caller can tell (context.DeadlineExceeded is a net.Error with Timeout, so Temporary).
func Classify(err error) Verdict {
	if err == nil {
		return Unknown
	}
	if TLS(err) {
		return Permanent
	}
	if errors.As(err, new(docker.ErrUnauthorizedForCredentials)) {
		return Permanent
	}
	if errors.Is(err, docker.ErrTooManyRequests) {
		return Temporary
	}
	if code, ok := Code(err); ok {
		return statusVerdict(code.Descriptor().HTTPStatusCode)
	}
	if status, ok := Status(err); ok {
		return statusVerdict(status)
	}
	if errors.Is(err, context.Canceled) {
		return Unknown
	}
	var ne net.Error
	if errors.As(err, &ne) || ConnectionFault(err) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ETIMEDOUT) {
		return Temporary
	}
	return Unknown
}

// ConnectionFault reports whether err is a connection that broke: reset or aborted, a
// broken pipe, a body cut short (io.ErrUnexpectedEOF), or a server that closed the
// connection before answering (io.EOF inside the HTTP client's *url.Error). A bare
// io.EOF is not one: a local file read to its end ("bundle.json: EOF") is no network
// fault.
func ConnectionFault(err error) bool {
	var ue *url.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ue) && errors.Is(ue.Err, io.EOF))
}

// Retryable reports whether Classify says Temporary.
func Retryable(err error) bool { return Classify(err) == Temporary }

// RetryableStatus reports whether an HTTP status is temporary: 408, 429 and 5xx.
func RetryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

func statusVerdict(status int) Verdict {
	if RetryableStatus(status) {
		return Temporary
	}
	return Permanent
}

// TLS reports whether err is a TLS failure that another try will meet again: a
// certificate that does not verify (unknown authority, wrong host name, expired or not
// yet valid, not allowed for this use, a constraint violated, an insecure signature
// algorithm), with or without tls.CertificateVerificationError around it; a server that
// does not speak TLS (tls.RecordHeaderError); or a TLS alert from the server
// (tls.AlertError: a handshake it refused).
func TLS(err error) bool {
	return errors.As(err, new(*tls.CertificateVerificationError)) ||
		errors.As(err, new(x509.UnknownAuthorityError)) ||
		errors.As(err, new(x509.HostnameError)) ||
		errors.As(err, new(x509.CertificateInvalidError)) ||
		errors.As(err, new(x509.ConstraintViolationError)) ||
		errors.As(err, new(x509.InsecureAlgorithmError)) ||
		errors.As(err, new(tls.RecordHeaderError)) ||
		errors.As(err, new(tls.AlertError))
}

// Code returns the registry error code err carries: an errcode.Error or errcode.ErrorCode
// in its chain, or the first error of an errcode.Errors list (the list does not unwrap;
// containers/image too reads its first error only).
func Code(err error) (errcode.ErrorCode, bool) {
	for _, e := range Chain(err) {
		switch v := e.(type) {
		case errcode.ErrorCoder:
			return v.ErrorCode(), true
		case errcode.Errors:
			if len(v) > 0 {
				if c, ok := Code(v[0]); ok {
					return c, true
				}
			}
		}
	}
	return 0, false
}

// Status returns the HTTP status a registry answered, carried by the first error in
// err's chain that is a struct with an int field StatusCode of its own:
// containers/image's docker.UnexpectedHTTPStatusError (any status outside 4xx, and every
// status of an external blob URL), and its unexported error for a 4xx whose body is not
// a registry's JSON error list (an HTML page, a HEAD's empty body), whose status would
// otherwise be only in its text.
func Status(err error) (int, bool) {
	for _, e := range Chain(err) {
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
		// A field of the struct itself, not one promoted from an embedded struct (which
		// may be a nil pointer, and is another type's field).
		f, ok := v.Type().FieldByName("StatusCode")
		if !ok || len(f.Index) != 1 {
			continue
		}
		if fv := v.Field(f.Index[0]); fv.CanInt() {
			return int(fv.Int()), true
		}
	}
	return 0, false
}

// Chain is err and every error it wraps, depth first (an errors.Join's in order).
func Chain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, Chain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, Chain(e)...)
		}
	}
	return out
}
