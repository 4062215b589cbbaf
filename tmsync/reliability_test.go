package tmsync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/manifest"
)

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"503", fmt.Errorf("reading blob: %w", docker.UnexpectedHTTPStatusError{StatusCode: 503}), true},
		{"toomanyrequests", fmt.Errorf("reading manifest: %w", errcode.ErrorCodeTooManyRequests.WithMessage("slow down")), true},
		{"unknown 500", fmt.Errorf("x: %w", errcode.ErrorCodeUnknown.WithMessage("boom")), true},
		{"unexpected EOF", fmt.Errorf("reading blob: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"manifest unknown", fmt.Errorf("reading manifest: %w", errcode.Error{Code: v2.ErrorCodeManifestUnknown, Message: "manifest unknown"}), false},
		{"name unknown", fmt.Errorf("x: %w", errcode.Error{Code: v2.ErrorCodeNameUnknown, Message: "repository name not known to registry"}), false},
		{"blob unknown", fmt.Errorf("x: %w", errcode.Error{Code: v2.ErrorCodeBlobUnknown, Message: "blob unknown to registry"}), false},
		{"denied", fmt.Errorf("x: %w", errcode.ErrorCodeDenied.WithMessage("requested access to the resource is denied")), false},
		{"digest mismatch", &permanentError{fmt.Errorf("%w: pushed x", ErrDigestMismatch)}, false},
		{"tag conflict", fmt.Errorf("%w: a", ErrTagConflict), false},
		{"canceled", fmt.Errorf("copying: %w", context.Canceled), false},
		{"aws access denied", fmt.Errorf("ECR BatchGetImage: %w", &smithy.GenericAPIError{Code: "AccessDeniedException",
			Message: "User: arn:aws:iam::1:user/x is not authorized to perform: ecr:BatchGetImage", Fault: smithy.FaultClient}), false},
		{"aws throttling", fmt.Errorf("x: %w", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}), true},
		{"aws server fault", fmt.Errorf("x: %w", &smithy.GenericAPIError{Code: "ServerException", Message: "internal", Fault: smithy.FaultServer}), true},
		// 401 is not transient: copyWithRetry renews a target's credentials once instead.
		{"401 for credentials", fmt.Errorf("x: %w", docker.ErrUnauthorizedForCredentials{Err: errors.New("401")}), false},
		{"unauthorized code", fmt.Errorf("x: %w", errcode.ErrorCodeUnauthorized.WithMessage("authentication required")), false},
		// By structure, never by text: an unknown error is not retried whatever it says.
		{"unknown error", errors.New("boom"), false},
		{"text of a reset, no structure", errors.New("read tcp: connection reset by peer (503 Service Unavailable)"), false},
		{"text of a 404, no structure", errors.New("manifest unknown: not found"), false},
		{"408", fmt.Errorf("x: %w", docker.UnexpectedHTTPStatusError{StatusCode: 408}), true},
		{"429 status", fmt.Errorf("x: %w", docker.UnexpectedHTTPStatusError{StatusCode: 429}), true},
		{"404 status", fmt.Errorf("x: %w", docker.UnexpectedHTTPStatusError{StatusCode: 404}), false},
		{"403 status", fmt.Errorf("x: %w", docker.UnexpectedHTTPStatusError{StatusCode: 403}), false},
		{"too many requests", fmt.Errorf("x: %w", docker.ErrTooManyRequests), true},
		{"reset inside a url.Error", fmt.Errorf("writing blob: %w", &url.Error{Op: "Patch", URL: "https://r/v2/", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}), true},
		{"broken pipe", fmt.Errorf("x: %w", syscall.EPIPE), true},
		{"unknown CA", fmt.Errorf("x: %w", &url.Error{Op: "Get", URL: "https://r/v2/", Err: x509.UnknownAuthorityError{}}), false},
		{"wrong host in cert", fmt.Errorf("x: %w", &url.Error{Op: "Get", URL: "https://r/v2/", Err: x509.HostnameError{Host: "r"}}), false},
		// A certificate out of its validity, not wrapped in tls.CertificateVerificationError
		// (a hand-made verification): ClassifyError says tls, and it is never retried.
		{"expired cert, unwrapped", fmt.Errorf("x: %w", &url.Error{Op: "Get", URL: "https://r/v2/", Err: x509.CertificateInvalidError{Reason: x509.Expired}}), false},
		{"aborted connection", fmt.Errorf("x: %w", syscall.ECONNABORTED), true},
		{"server closed the connection (EOF in a url.Error)", fmt.Errorf("reading manifest: %w", &url.Error{Op: "Get", URL: "https://r/v2/", Err: io.EOF}), true},
		{"a local file read to its end", fmt.Errorf("bundle.json: %w", io.EOF), false},
		// A stall cut by the vendor puller's idle timer is a net.Error timeout.
		{"timeout", fmt.Errorf("x: %w", &url.Error{Op: "Get", URL: "https://r/v2/", Err: timeoutError{}}), true},
		{"canceled in a url.Error", fmt.Errorf("x: %w", &url.Error{Op: "Get", URL: "https://r/v2/", Err: context.Canceled}), false},
		{"aws client fault", fmt.Errorf("x: %w", &smithy.GenericAPIError{Code: "RepositoryNotFoundException", Fault: smithy.FaultClient}), false},
		{"aws unknown fault", fmt.Errorf("x: %w", &smithy.GenericAPIError{Code: "SomethingNew"}), false},
		{"nil", nil, false},
		// containers/image's error for a response whose body it cannot parse is
		// unexported: its status is read from its StatusCode field.
		{"unparsed 503", fmt.Errorf("x: %w", &unparsedResponse{StatusCode: 503}), true},
		{"unparsed 404", fmt.Errorf("x: %w", &unparsedResponse{StatusCode: 404}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retryable(tc.err); got != tc.want {
				t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// unparsedResponse has the shape of containers/image's unexported error for a response
// whose body it could not parse.
type unparsedResponse struct {
	ParseErr   error
	StatusCode int
	Response   []byte
}

func (e *unparsedResponse) Error() string {
	return fmt.Sprintf("StatusCode: %d, %q", e.StatusCode, e.Response)
}

// TestNotFound: a missing tag is told by its error code or HTTP status, never by text.
func TestNotFound(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("head: %w", &unparsedResponse{StatusCode: 404}), true},
		{fmt.Errorf("head: %w", docker.UnexpectedHTTPStatusError{StatusCode: 404}), true},
		{fmt.Errorf("x: %w", errcode.Error{Code: v2.ErrorCodeManifestUnknown, Message: "manifest unknown"}), true},
		{fmt.Errorf("head: %w", &unparsedResponse{StatusCode: 500}), false},
		{errors.New("StatusCode: 404, manifest unknown"), false},
	} {
		if got := notFound(tc.err); got != tc.want {
			t.Errorf("notFound(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// acceptAll is an Attestor that accepts every image.
type acceptAll struct{}

func (acceptAll) Prepare(context.Context, []attest.Subject) error { return nil }
func (acceptAll) Verify(context.Context, attest.Subject) (*Attestation, error) {
	return &Attestation{Fingerprint: "test"}, nil
}

// expiringTarget is a RegistryTarget whose credentials have expired until they are
// invalidated, as ECR's token does in a long run: it records the calls.
type expiringTarget struct {
	*RegistryTarget
	mu            sync.Mutex
	expired       bool
	invalidations int
	references    int
}

func (x *expiringTarget) Reference(ctx context.Context, repo, tag string) (types.ImageReference, *types.SystemContext, error) {
	ref, sys, err := x.RegistryTarget.Reference(ctx, repo, tag)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.references++
	if err == nil && x.expired {
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: "push", Password: "expired-token"}
	}
	return ref, sys, err
}

func (x *expiringTarget) InvalidateCredentials() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.expired = false
	x.invalidations++
}

const unitPassword = "unit-registry-pass-4f0d"

// unitBed is one registry with basic auth holding a source image under vendor/ and
// taking copies under mirror/.
func unitBed(t *testing.T) (*testbed.Registry, releasetest.Image) {
	t.Helper()
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{Username: "push", Password: unitPassword})
	im := releasetest.Image{Repository: "vendor/core", Tag: "1.0.0", Layers: 1, LayerSize: 4 << 10}
	if err := releasetest.Push(context.Background(), releasetest.Registry{Host: reg.Host,
		Auth: &authn.Basic{Username: "push", Password: unitPassword}}, &im, 7); err != nil {
		t.Fatal(err)
	}
	return reg, im
}

func unitEngine(t *testing.T, reg *testbed.Registry, im releasetest.Image, srcPassword string, target Target) testEngine {
	t.Helper()
	dir := t.TempDir()
	if _, err := releasetest.WriteRelease(dir, "1.0.0", reg.Host, []releasetest.Image{im}); err != nil {
		t.Fatal(err)
	}
	e, err := New(target, acceptAll{}, WithSource(Source{Registry: reg.Host, Username: "push", Password: srcPassword}),
		WithInsecure(reg.Host), WithConcurrency(1), WithRetryBackoff(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return testEngine{Engine: e, rel: ReleaseDir(dir, manifest.WithVendorRegistry(reg.Host), manifest.WithPrefix("/"))}
}

func registryTarget(t *testing.T, reg *testbed.Registry) *RegistryTarget {
	t.Helper()
	rt, err := NewRegistryTarget(reg.Host+"/mirror", WithTargetCredentials("push", unitPassword), WithTargetInsecure())
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestCopyRenewsExpiredCredentials: the target's credentials expire during the run; the
// copy is refused with 401, the engine asks the target to renew them, and the next try
// succeeds.
func TestCopyRenewsExpiredCredentials(t *testing.T) {
	reg, im := unitBed(t)
	x := &expiringTarget{RegistryTarget: registryTarget(t, reg), expired: true}
	rep, err := unitEngine(t, reg, im, unitPassword, x).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := rep.Images[0]
	t.Logf("outcome %s after %d attempts, %d invalidations, %d references: %s", rec.Outcome, rec.Attempts, x.invalidations, x.references, rec.Reason)
	if rec.Outcome != OutcomeCopied || rec.Attempts != 2 || x.invalidations != 1 || x.references != 2 {
		t.Errorf("outcome %s, %d attempts, %d invalidations, %d references; want copied on the 2nd attempt after 1 invalidation",
			rec.Outcome, rec.Attempts, x.invalidations, x.references)
	}
}

// TestCopyUnauthorizedIsPermanent: a refused source credential (a wrong vendor token) is
// not retried with backoff: a plain registry target fails at once; a target that can
// renew its credentials is given one more try after renewing, then fails.
func TestCopyUnauthorizedIsPermanent(t *testing.T) {
	reg, im := unitBed(t)
	t.Run("plain target", func(t *testing.T) {
		rep, err := unitEngine(t, reg, im, "wrong-token", registryTarget(t, reg)).Sync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rec := rep.Images[0]; rec.Outcome != OutcomeFailed || rec.Attempts != 1 {
			t.Errorf("outcome %s after %d attempts (%s), want failed after 1", rec.Outcome, rec.Attempts, rec.Reason)
		}
	})
	t.Run("renewing target", func(t *testing.T) {
		x := &expiringTarget{RegistryTarget: registryTarget(t, reg)}
		rep, err := unitEngine(t, reg, im, "wrong-token", x).Sync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rec := rep.Images[0]; rec.Outcome != OutcomeFailed || rec.Attempts != 2 || x.invalidations != 1 {
			t.Errorf("outcome %s after %d attempts, %d invalidations (%s), want failed after 2 with 1 invalidation",
				rec.Outcome, rec.Attempts, x.invalidations, rec.Reason)
		}
	})
}

// TestResolveRetriesTransientErrors: an unpinned source (a v4 image list) is resolved by
// tag; a 503 on that lookup is retried like a
// copy, not the end of the image.
func TestResolveRetriesTransientErrors(t *testing.T) {
	reg, im := unitBed(t)
	tagPath := "/v2/" + im.Repository + "/manifests/" + im.Tag
	fp := faultproxy.Start(t, reg.Host, faultproxy.Config{ErrorRate: 1, Statuses: []int{503}, MaxFaults: 1,
		Match: func(r *http.Request) bool { return r.URL.Path == tagPath }})
	dir := t.TempDir()
	// A v4 list: pulled from the vendor registry by tag.
	if err := os.WriteFile(filepath.Join(dir, "1.0.0_tm_registry_images.txt"), []byte(im.Repository+":"+im.Tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New(registryTarget(t, reg), acceptAll{}, WithSource(Source{Registry: fp.Host, Username: "push", Password: unitPassword}),
		WithInsecure(reg.Host, fp.Host), WithConcurrency(1), WithRetryBackoff(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Sync(context.Background(), ReleaseDir(dir, manifest.WithVendorRegistry(fp.Host), manifest.WithPrefix("/")))
	if err != nil {
		t.Fatal(err)
	}
	rec := rep.Images[0]
	if s := fp.Stats(); s.Errors[503] != 1 {
		t.Fatalf("the proxy injected %v, want one 503", s.Errors)
	}
	if rec.Outcome != OutcomeCopied || rec.Digest != im.Digest {
		t.Errorf("outcome %s at %s (%s), digest %s; want copied with %s", rec.Outcome, rec.Step, rec.Reason, rec.Digest, im.Digest)
	}
}

// TestExistingRetriesTransientErrors: the lookup of the tags already in the target is
// retried on a 503, not the end of every image of the repository.
func TestExistingRetriesTransientErrors(t *testing.T) {
	reg, im := unitBed(t)
	fp := faultproxy.Start(t, reg.Host, faultproxy.Config{ErrorRate: 1, Statuses: []int{503}, MaxFaults: 1,
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/")
		}})
	rt, err := NewRegistryTarget(fp.Host+"/mirror", WithTargetCredentials("push", unitPassword), WithTargetInsecure())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := unitEngine(t, reg, im, unitPassword, rt).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := fp.Stats(); s.Errors[503] != 1 {
		t.Fatalf("the proxy injected %v, want one 503", s.Errors)
	}
	if rec := rep.Images[0]; rec.Outcome != OutcomeCopied {
		t.Errorf("outcome %s at %s (%s), want copied", rec.Outcome, rec.Step, rec.Reason)
	}
}

// flakyExisting fails its first Existing call with a temporary error.
type flakyExisting struct {
	Target
	calls atomic.Int32
}

func (f *flakyExisting) Existing(ctx context.Context, repo string, tags []string) (map[string]digest.Digest, error) {
	if f.calls.Add(1) == 1 {
		return nil, io.ErrUnexpectedEOF
	}
	return f.Target.Existing(ctx, repo, tags)
}

// TestExistingRetryOfARepository: a tag lookup that fails for a temporary reason after
// the target's own fallbacks is retried by the engine as a step of the run (no image of
// its own), and the image is copied.
func TestExistingRetryOfARepository(t *testing.T) {
	reg, im := unitBed(t)
	rt, err := NewRegistryTarget(reg.Host+"/mirror", WithTargetCredentials("push", unitPassword), WithTargetInsecure())
	if err != nil {
		t.Fatal(err)
	}
	ft := &flakyExisting{Target: rt}
	rep, err := unitEngine(t, reg, im, unitPassword, ft).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := ft.calls.Load(); n != 2 {
		t.Errorf("Existing called %d times, want 2 (one retry)", n)
	}
	if rec := rep.Images[0]; rec.Outcome != OutcomeCopied {
		t.Errorf("outcome %s at %s (%s), want copied", rec.Outcome, rec.Step, rec.Reason)
	}
}
