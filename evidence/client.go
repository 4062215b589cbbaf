package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// Image is an image in the registry that receives evidence: the destination of a copy.
type Image struct {
	// Repository is "host/repo" (no tag, no digest).
	Repository string
	// Digest is the digest of the manifest or index the evidence is about.
	Digest digest.Digest
	// MediaType and Size describe the manifest at Digest. When either is empty, the
	// registry is asked (one HEAD).
	MediaType string
	Size      int64
	// ImmutableTags says the repository refuses to overwrite tags (ECR IMMUTABLE). Ensure
	// then never tries to rewrite an existing fallback tag: it reports StatusBlocked
	// without spending a PutImage that ECR would refuse.
	ImmutableTags bool
}

// String is "host/repo@sha256:<hex>".
func (i Image) String() string { return i.Repository + "@" + string(i.Digest) }

// Client reads and writes evidence in registries. It is safe for concurrent use.
type Client struct {
	keychain  authn.Keychain
	transport http.RoundTripper
	insecure  bool
	log       *slog.Logger
	version   string
	now       func() time.Time

	limiter Limiter

	mu        sync.Mutex
	referrers map[string]bool // registry host -> referrers API answered
	// probing holds the hosts whose referrers API is being probed: the images listed in
	// parallel at the start of a run wait for the one probe instead of each making one.
	probing map[string]chan struct{}
	// indexSubject405 holds the hosts that refused a referrer whose subject is an index.
	indexSubject405 map[string]bool
}

// Option configures a Client.
type Option func(*Client) error

// WithCredentials sets the basic-auth credentials (for ECR: "AWS" and the token of
// GetAuthorizationToken) used for registry host. Several hosts may be given; a host
// without credentials is accessed anonymously. Default: anonymous everywhere.
func WithCredentials(host, username, password string) Option {
	return func(c *Client) error {
		if host == "" {
			return errors.New("WithCredentials: empty host")
		}
		kc, _ := c.keychain.(hostKeychain)
		if kc == nil {
			kc = hostKeychain{}
		}
		kc[host] = authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
		c.keychain = kc
		return nil
	}
}

// WithKeychain resolves credentials with kc (e.g. authn.DefaultKeychain). It replaces
// WithCredentials.
func WithKeychain(kc authn.Keychain) Option {
	return func(c *Client) error {
		if kc == nil {
			return errors.New("WithKeychain: nil keychain")
		}
		c.keychain = kc
		return nil
	}
}

// WithTransport sets the HTTP transport (TLS settings, proxies). Default:
// remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) error {
		if rt == nil {
			return errors.New("WithTransport: nil transport")
		}
		c.transport = rt
		return nil
	}
}

// WithInsecure talks plain HTTP to every registry. Default: HTTPS, except for loopback
// hosts (localhost, 127.0.0.1), which go-containerregistry reaches over HTTP.
func WithInsecure() Option {
	return func(c *Client) error { c.insecure = true; return nil }
}

// WithLogger sets the logger for debug records. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l != nil {
			c.log = l
		}
		return nil
	}
}

// WithToolVersion sets the tmsync version recorded in the attestation artifact's
// annotations. Default: "dev".
func WithToolVersion(v string) Option {
	return func(c *Client) error { c.version = v; return nil }
}

// WithClock sets the clock of the verification-time default. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// Limiter paces manifest pushes; *rate.Limiter (golang.org/x/time/rate) is one.
type Limiter interface {
	Wait(ctx context.Context) error
}

// WithPushLimiter makes every manifest PUT wait for l first. Share one limiter between
// the image copies and the evidence so that together they stay under ECR's PutImage quota
// (10 per second per account and region). Default: no pacing.
func WithPushLimiter(l Limiter) Option {
	return func(c *Client) error { c.limiter = l; return nil }
}

// NewClient returns a Client.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		keychain:  authn.NewMultiKeychain(), // anonymous
		transport: remote.DefaultTransport,
		log:       slog.New(slog.DiscardHandler),
		version:   "dev",
		now:       time.Now,
		referrers: map[string]bool{},
		probing:   map[string]chan struct{}{},

		indexSubject405: map[string]bool{},
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	c.transport = newPingCache(c.transport)
	return c, nil
}

type hostKeychain map[string]authn.Authenticator

func (k hostKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}

// op is one operation on one image: its remote options and its count of manifest PUTs.
type op struct {
	c      *Client
	ctx    context.Context
	pushes atomic.Int64
	opts   []remote.Option
}

func (c *Client) newOp(ctx context.Context) *op {
	o := &op{c: c, ctx: ctx}
	o.opts = []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(countingTransport{base: c.transport, n: &o.pushes, limiter: c.limiter}),
		remote.WithUserAgent("tmsync/" + c.version),
	}
	return o
}

// countingTransport counts manifest PUTs: the calls ECR meters as PutImage.
type countingTransport struct {
	base    http.RoundTripper
	n       *atomic.Int64
	limiter Limiter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		if t.limiter != nil {
			if err := t.limiter.Wait(r.Context()); err != nil {
				return nil, err
			}
		}
		t.n.Add(1)
	}
	return t.base.RoundTrip(r)
}

func (c *Client) nameOptions() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if c.insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

func (c *Client) repository(repo string) (name.Repository, error) {
	r, err := name.NewRepository(repo, c.nameOptions()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %w", repo, err)
	}
	return r, nil
}

// resolve completes img's media type and size and returns its subject descriptor.
func (o *op) resolve(img *Image) (name.Digest, v1.Descriptor, error) {
	repo, err := o.c.repository(img.Repository)
	if err != nil {
		return name.Digest{}, v1.Descriptor{}, err
	}
	if err := img.Digest.Validate(); err != nil {
		return name.Digest{}, v1.Descriptor{}, fmt.Errorf("image %q: %w", img.String(), err)
	}
	ref := repo.Digest(string(img.Digest))
	if img.MediaType == "" || img.Size <= 0 {
		d, err := remote.Head(ref, o.opts...)
		if err != nil {
			return name.Digest{}, v1.Descriptor{}, fmt.Errorf("looking up %s: %w", img, err)
		}
		if d.Digest.String() != string(img.Digest) {
			return name.Digest{}, v1.Descriptor{}, fmt.Errorf("looking up %s: registry answered digest %s", img, d.Digest)
		}
		img.MediaType, img.Size = string(d.MediaType), d.Size
	}
	h, _ := v1.NewHash(string(img.Digest))
	return ref, v1.Descriptor{MediaType: types.MediaType(img.MediaType), Digest: h, Size: img.Size}, nil
}

// referrersAPI reports whether the registry of ref answers the OCI 1.1 referrers API.
// The answer is kept per registry host.
func (o *op) referrersAPI(ref name.Digest) (bool, error) {
	host := ref.Context().RegistryStr()
	o.c.mu.Lock()
	known, ok := o.c.referrers[host]
	wait, busy := o.c.probing[host]
	if !ok && !busy {
		o.c.probing[host] = make(chan struct{})
	}
	o.c.mu.Unlock()
	switch {
	case ok:
		return known, nil
	case busy:
		// Another call is probing: wait for its answer. An answer that is not remembered
		// (a 401, a 5xx, a network error) leaves each waiter to probe on its own, in
		// parallel, as before the single flight.
		select {
		case <-wait:
		case <-o.ctx.Done():
			return false, o.ctx.Err()
		}
		o.c.mu.Lock()
		known, ok = o.c.referrers[host]
		o.c.mu.Unlock()
		if ok {
			return known, nil
		}
		return o.probeReferrersAPI(ref, host)
	}
	defer func() {
		o.c.mu.Lock()
		close(o.c.probing[host])
		delete(o.c.probing, host)
		o.c.mu.Unlock()
	}()
	return o.probeReferrersAPI(ref, host)
}

// probeReferrersAPI asks host's referrers API about ref (referrersAPI).
func (o *op) probeReferrersAPI(ref name.Digest, host string) (bool, error) {
	var known bool
	tr, err := transport.NewWithContext(o.ctx, ref.Context().Registry, o.authFor(ref.Context()),
		o.c.transport, []string{ref.Context().Scope(transport.PullScope)})
	if err != nil {
		return false, fmt.Errorf("probing the referrers API of %s: %w", host, err)
	}
	u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", ref.Context().Scheme(), host, ref.Context().RepositoryStr(), ref.DigestStr())
	req, err := http.NewRequestWithContext(o.ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false, fmt.Errorf("probing the referrers API of %s: %w", host, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && strings.Contains(string(body), string(transport.NameUnknownErrorCode)) {
		// The repository is unknown: that says nothing about the API; not remembered.
		return false, nil
	}
	// The spec: 200 with an image index. A registry without the API answers 404 (an unknown
	// route) or 400/405; anything else (401, 5xx) says nothing and is not remembered.
	switch {
	case resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex)):
		known = true
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest ||
		resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusOK:
		known = false
	default:
		return false, fmt.Errorf("probing the referrers API of %s: status %d", host, resp.StatusCode)
	}
	o.c.mu.Lock()
	o.c.referrers[host] = known
	o.c.mu.Unlock()
	return known, nil
}

func (o *op) authFor(repo name.Repository) authn.Authenticator {
	a, err := o.c.keychain.Resolve(repo)
	if err != nil {
		return authn.Anonymous
	}
	return a
}

// statusOf returns the HTTP status of a registry error, 0 when there is none.
func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// isNotFound reports a 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN answer.
func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// isTagRefused reports the answer of a registry that will not overwrite a tag (ECR on an
// IMMUTABLE repository: TAG_INVALID "... cannot be overwritten because the repository is
// immutable").
func isTagRefused(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.TagInvalidErrorCode || strings.Contains(strings.ToLower(d.Message), "immutable") {
			return true
		}
	}
	return strings.Contains(strings.ToLower(err.Error()), "immutable")
}
