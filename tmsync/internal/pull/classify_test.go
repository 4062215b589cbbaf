package pull_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
	"github.com/tmsync/tmsync/tmsync/internal/regerr"
)

var (
	dockerGetDigest = docker.GetDigest
	noCache         = none.NoCache
)

// statusCarrier names the error in err's chain that carries the HTTP status, by type.
func statusCarrier(err error) string {
	for _, e := range regerr.Chain(err) {
		v := reflect.ValueOf(e)
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() == reflect.Struct {
			if f, ok := v.Type().FieldByName("StatusCode"); ok && len(f.Index) == 1 {
				return fmt.Sprintf("%T", e)
			}
		}
	}
	if c, ok := regerr.Code(err); ok {
		return "errcode " + c.String()
	}
	return "none"
}

// TestClassifyRealRegistryErrors: every answer a CDN or load balancer in front of a
// registry gives as an HTML page, to a manifest GET, a manifest HEAD and a blob GET,
// turned into an error by containers/image itself. The vendor puller (pull) and the
// engine (tmsync.Retryable) retry 408, 429 and 5xx, and nothing else, and
// ClassifyError names the same status.
func TestClassifyRealRegistryErrors(t *testing.T) {
	type want struct {
		retry bool
		cause tmsync.Cause
	}
	wants := map[int]want{
		400: {false, "http-400"}, 401: {false, tmsync.CauseUnauthorized}, 403: {false, tmsync.CauseDenied},
		404: {false, "http-404"}, 405: {false, "http-405"}, 408: {true, "http-408"},
		429: {true, tmsync.CauseTooManyRequests}, 500: {true, tmsync.CauseServerError},
		502: {true, tmsync.CauseServerError}, 503: {true, tmsync.CauseServerError}, 504: {true, tmsync.CauseServerError},
	}
	ctx := context.Background()
	for _, op := range []string{"GET manifest", "HEAD manifest", "GET blob"} {
		for _, status := range []int{400, 401, 403, 404, 405, 408, 429, 500, 502, 503, 504} {
			t.Run(fmt.Sprintf("%s %d", op, status), func(t *testing.T) {
				f, err := realError(t, op, status)
				w := wants[status]
				carrier := statusCarrier(err)
				t.Logf("%s %d: %s: %v", op, status, carrier, err)
				if got, ok := regerr.Status(err); status != 401 && (!ok || got != status) {
					t.Errorf("regerr.Status = %d, %v; want %d (carried by %s)", got, ok, status, carrier)
				}
				if got := pull.RetryableForTest(ctx, err); got != w.retry {
					t.Errorf("pull retries it: %v, want %v", got, w.retry)
				}
				if got := tmsync.Retryable(err); got != w.retry {
					t.Errorf("tmsync.Retryable = %v, want %v", got, w.retry)
				}
				if got := tmsync.ClassifyError(err); got != w.cause {
					t.Errorf("ClassifyError = %q, want %q", got, w.cause)
				}
				// containers/image retries a 429 itself, 5 tries in all (Retry-After: 0
				// here); any other status is tried once.
				tries := 1
				if status == http.StatusTooManyRequests {
					tries = 5
				}
				if n := f.count(op); n != tries {
					t.Errorf("%d requests for one %s answered %d, want %d", n, op, status, tries)
				}
			})
		}
	}
}

func urlErr(err error) error {
	return &url.Error{Op: "Get", URL: "https://vendor.example/v2/vault/app/manifests/1.0", Err: err}
}

// TestClassifyAgreement: over errcode lists, wrapped and joined errors, network errors,
// io.EOF and certificate errors of every kind, the vendor puller and the engine agree,
// and ClassifyError agrees with both: a tls cause is never retried, a canceled cause
// never either.
func TestClassifyAgreement(t *testing.T) {
	wrap := func(err error) error {
		return fmt.Errorf("copying vault/app:1.0: %w", fmt.Errorf("reading blob: %w", err))
	}
	var parsed errcode.Errors // a code this client does not know parses as UNKNOWN (500)
	if err := json.Unmarshal([]byte(`{"errors":[{"code":"SOMETHING_NEW","message":"?"}]}`), &parsed); err != nil {
		t.Fatal(err)
	}
	// A certificate checked by hand (x509.Certificate.Verify, a VerifyConnection hook)
	// fails with x509's own errors, without tls.CertificateVerificationError around them.
	expired := x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is after NotAfter"}
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
		cause tmsync.Cause
	}{
		{"TOOMANYREQUESTS", wrap(errcode.ErrorCodeTooManyRequests.WithMessage("slow down")), true, tmsync.CauseTooManyRequests},
		{"UNAVAILABLE", wrap(errcode.ErrorCodeUnavailable.WithMessage("down")), true, tmsync.CauseServerError},
		{"UNKNOWN", wrap(errcode.ErrorCodeUnknown.WithMessage("boom")), true, tmsync.CauseServerError},
		{"a code unknown to the client", wrap(parsed), true, tmsync.CauseServerError},
		{"bare ErrorCode UNAVAILABLE", wrap(errcode.ErrorCodeUnavailable), true, tmsync.CauseServerError},
		{"UNAUTHORIZED", wrap(errcode.ErrorCodeUnauthorized.WithMessage("authentication required")), false, tmsync.CauseUnauthorized},
		{"DENIED", wrap(errcode.ErrorCodeDenied.WithMessage("no")), false, tmsync.CauseDenied},
		{"MANIFEST_UNKNOWN", wrap(errcode.Error{Code: v2.ErrorCodeManifestUnknown}), false, tmsync.CauseManifestUnknown},
		{"NAME_UNKNOWN", wrap(errcode.Error{Code: v2.ErrorCodeNameUnknown}), false, tmsync.CauseNameUnknown},
		{"BLOB_UNKNOWN", wrap(errcode.Error{Code: v2.ErrorCodeBlobUnknown}), false, tmsync.CauseBlobUnknown},
		{"DIGEST_INVALID", wrap(errcode.Error{Code: v2.ErrorCodeDigestInvalid}), false, "http-400"},
		{"list: UNAVAILABLE first", wrap(errcode.Errors{errcode.ErrorCodeUnavailable.WithMessage("x"), errcode.ErrorCodeDenied.WithMessage("y")}), true, tmsync.CauseServerError},
		{"list: DENIED first", wrap(errcode.Errors{errcode.ErrorCodeDenied.WithMessage("y"), errcode.ErrorCodeUnavailable.WithMessage("x")}), false, tmsync.CauseDenied},
		{"503 status", wrap(docker.UnexpectedHTTPStatusError{StatusCode: 503}), true, tmsync.CauseServerError},
		{"404 status", wrap(docker.UnexpectedHTTPStatusError{StatusCode: 404}), false, "http-404"},
		{"too many requests", wrap(docker.ErrTooManyRequests), true, tmsync.CauseTooManyRequests},
		{"refused credentials", wrap(docker.ErrUnauthorizedForCredentials{Err: errors.New("401")}), false, tmsync.CauseUnauthorized},
		{"joined: unknown, then 503", errors.Join(errors.New("x"), wrap(docker.UnexpectedHTTPStatusError{StatusCode: 503})), true, tmsync.CauseServerError},
		{"joined: 404 first, then 503", errors.Join(docker.UnexpectedHTTPStatusError{StatusCode: 404}, docker.UnexpectedHTTPStatusError{StatusCode: 503}), false, "http-404"},
		{"joined: reset, then unknown CA", errors.Join(urlErr(syscall.ECONNRESET), urlErr(x509.UnknownAuthorityError{})), false, tmsync.CauseTLS},
		{"reset in a url.Error", wrap(urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})), true, tmsync.CauseConnectionReset},
		{"refused", wrap(urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})), true, tmsync.CauseConnectionRefused},
		{"aborted, bare", wrap(syscall.ECONNABORTED), true, tmsync.CauseConnectionReset},
		{"broken pipe, bare", wrap(syscall.EPIPE), true, tmsync.CauseConnectionReset},
		{"read timeout", wrap(urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded})), true, tmsync.CauseTimeout},
		{"dns", wrap(urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "vendor.example", IsNotFound: true}})), true, tmsync.CauseDNS},
		{"other net error", wrap(urlErr(&net.OpError{Op: "dial", Err: errors.New("network is down")})), true, tmsync.CauseNetwork},
		{"server closed the connection (url.Error EOF)", wrap(urlErr(io.EOF)), true, tmsync.CauseConnectionReset},
		// A bare io.EOF is a file or stream read to its end, not a network fault.
		{"io.EOF, bare", wrap(io.EOF), false, tmsync.CauseOther},
		{"io.ErrUnexpectedEOF", wrap(io.ErrUnexpectedEOF), true, tmsync.CauseConnectionReset},
		{"unknown CA", wrap(urlErr(x509.UnknownAuthorityError{})), false, tmsync.CauseTLS},
		{"wrong host", wrap(urlErr(x509.HostnameError{Host: "vendor.example"})), false, tmsync.CauseTLS},
		{"expired, unwrapped", wrap(urlErr(expired)), false, tmsync.CauseTLS},
		{"expired, bare", expired, false, tmsync.CauseTLS},
		{"not valid for this use", wrap(urlErr(x509.CertificateInvalidError{Reason: x509.IncompatibleUsage})), false, tmsync.CauseTLS},
		{"name constraints", wrap(urlErr(x509.CertificateInvalidError{Reason: x509.CANotAuthorizedForThisName})), false, tmsync.CauseTLS},
		{"expired in a CertificateVerificationError", wrap(urlErr(&tls.CertificateVerificationError{Err: expired})), false, tmsync.CauseTLS},
		{"constraint violation", wrap(urlErr(x509.ConstraintViolationError{})), false, tmsync.CauseTLS},
		{"insecure algorithm", wrap(urlErr(x509.InsecureAlgorithmError(x509.SHA1WithRSA))), false, tmsync.CauseTLS},
		{"not TLS", wrap(urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"})), false, tmsync.CauseTLS},
		{"TLS alert", wrap(urlErr(tls.AlertError(40))), false, tmsync.CauseTLS},
		{"canceled", wrap(context.Canceled), false, tmsync.CauseCanceled},
		{"canceled in a url.Error", wrap(urlErr(context.Canceled)), false, tmsync.CauseCanceled},
		{"deadline", wrap(context.DeadlineExceeded), true, tmsync.CauseTimeout},
		// By structure, never by text.
		{"text of a 503", errors.New("received unexpected HTTP status: 503 Service Unavailable"), false, tmsync.CauseOther},
		{"text of a reset", errors.New("read tcp: connection reset by peer"), false, tmsync.CauseOther},
		{"text of a certificate", errors.New("x509: certificate has expired or is not yet valid"), false, tmsync.CauseOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pull.RetryableForTest(context.Background(), tc.err)
			e := tmsync.Retryable(tc.err)
			c := tmsync.ClassifyError(tc.err)
			if p != tc.retry || e != tc.retry {
				t.Errorf("pull retries: %v, tmsync.Retryable: %v; want %v", p, e, tc.retry)
			}
			if c != tc.cause {
				t.Errorf("ClassifyError = %q, want %q", c, tc.cause)
			}
			if (c == tmsync.CauseTLS || c == tmsync.CauseCanceled) && (p || e) {
				t.Errorf("cause %q retried (pull %v, tmsync %v)", c, p, e)
			}
		})
	}
	// The caller's own cancellation stops pull's retries whatever the error.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if pull.RetryableForTest(cancelled, urlErr(syscall.ECONNRESET)) {
		t.Error("pull retried after its caller cancelled")
	}
}

// TestPullRetriesHTMLAnswers: the vendor answers a manifest GET and a blob GET with an
// HTML error page first; the puller's per-request retry gets the image's bytes anyway.
func TestPullRetriesHTMLAnswers(t *testing.T) {
	for _, status := range []int{502, 503, 408, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ctx := context.Background()
			f := startHTMLFront(t)
			p, err := pull.New(pull.Options{Retries: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			tries := 1
			if status == http.StatusTooManyRequests {
				tries = 5 // containers/image's own retries, then one error
			}
			for range tries {
				f.answer("GET manifest", status)
				f.answer("GET blob", status)
			}
			src, err := p.Wrap(f.ref(t)).NewImageSource(ctx, f.sys())
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer src.Close()
			rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
			if err != nil {
				t.Fatalf("blob: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, f.layer) {
				t.Fatalf("blob: %d bytes, %v", len(got), err)
			}
			if s := p.Stats(); s.Retries != 2 {
				t.Errorf("%d retries, want 2 (the manifest's and the blob's)", s.Retries)
			}
		})
	}
}

// TestRangeResumeRetryAfterHTMLAnswer: a blob cut halfway is resumed with a Range request,
// which the vendor's CDN answers once with an HTML error page; the resume is retried as
// a Range request, not turned into a fetch from byte 0.
func TestRangeResumeRetryAfterHTMLAnswer(t *testing.T) {
	for _, status := range []int{503, 408} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ctx := context.Background()
			f := startHTMLFront(t)
			p, src := f.open(t, pull.Options{Retries: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
			f.mu.Lock()
			f.cutAt = int64(len(f.layer) / 2)
			f.mu.Unlock()
			// containers/image's body reader reconnects by itself once, with Range, and
			// meets the first page (its error keeps only the cut's structure); the
			// puller's own Range resume meets the second.
			f.answer("GET range", status, status)
			rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, f.layer) {
				t.Fatalf("blob: %d bytes, %v", len(got), err)
			}
			s := p.Stats()
			if s.RangeResumes != 1 || s.RangeFallbacks != 0 || s.RefetchedBytes != 0 {
				t.Errorf("range resumes %d, fallbacks to byte 0 %d, bytes fetched again %d; want 1, 0, 0", s.RangeResumes, s.RangeFallbacks, s.RefetchedBytes)
			}
			if n := f.count("GET range"); n != 3 {
				t.Errorf("%d Range requests, want 3 (containers/image's, the puller's failed one, its retry)", n)
			}
			if n := f.count("GET blob"); n != 1 {
				t.Errorf("%d full GETs of the blob, want 1", n)
			}
		})
	}
}

// TestIdleSpentIsATimeout: a vendor that stalls until the puller's idle timer has cut
// every try. What comes out is a network timeout: the engine retries the image, and
// its cause is timeout, not canceled (nobody interrupted the run). The run's own
// interruption, during the same stall, still reads canceled and is not retried.
func TestIdleSpentIsATimeout(t *testing.T) {
	opts := pull.Options{Retries: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, IdleTimeout: 150 * time.Millisecond}
	check := func(t *testing.T, err error, p *pull.Puller) {
		t.Helper()
		if err == nil {
			t.Fatal("no error from a stalled vendor")
		}
		t.Logf("%v", err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("an idle cut matches a context error: %v", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("an idle cut is not a net.Error timeout: %T", err)
		}
		if !tmsync.Retryable(err) {
			t.Error("tmsync.Retryable refuses an idle-spent error")
		}
		if c := tmsync.ClassifyError(err); c != tmsync.CauseTimeout {
			t.Errorf("ClassifyError = %q, want %q", c, tmsync.CauseTimeout)
		}
		if s := p.Stats(); s.IdleCuts != 2 {
			t.Errorf("%d idle cuts, want 2 (a try and its retry)", s.IdleCuts)
		}
	}
	t.Run("blob", func(t *testing.T) {
		ctx := context.Background()
		f := startHTMLFront(t)
		p, src := f.open(t, opts)
		f.mu.Lock()
		f.stallBlob = true
		f.mu.Unlock()
		rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		check(t, err, p)
	})
	t.Run("manifest", func(t *testing.T) {
		f := startHTMLFront(t)
		f.stallManifest = true
		p, err := pull.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		src, err := p.Wrap(f.ref(t)).NewImageSource(context.Background(), f.sys())
		if err == nil {
			src.Close()
		}
		check(t, err, p)
	})
	t.Run("interrupted", func(t *testing.T) {
		f := startHTMLFront(t)
		f.stallManifest = true
		p, err := pull.New(pull.Options{Retries: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, IdleTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(150*time.Millisecond, cancel)
		src, err := p.Wrap(f.ref(t)).NewImageSource(ctx, f.sys())
		if err == nil {
			src.Close()
		}
		if err == nil {
			t.Fatal("no error")
		}
		if tmsync.Retryable(err) {
			t.Errorf("the run's interruption is retried: %v", err)
		}
		if c := tmsync.ClassifyError(err); c != tmsync.CauseCanceled {
			t.Errorf("ClassifyError = %q, want %q (%v)", c, tmsync.CauseCanceled, err)
		}
	})
}
