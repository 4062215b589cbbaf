package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// DefaultAddress is the vendor's occurrences endpoint of the attestor note.
const DefaultAddress = "https://attestations.external.thoughtmachine.io/v1beta1/projects/tm-attestations-project/notes/tm-release-attestor-note/occurrences"

const (
	defaultPageSize    = 1000
	maxPageSize        = 1000
	defaultAttempts    = 4
	defaultBackoff     = 500 * time.Millisecond
	maxBackoff         = 30 * time.Second
	maxRetryAfter      = 60 * time.Second
	defaultHTTPTimeout = 60 * time.Second
	maxRedirects       = 10
)

// Default listing limits (see ListLimits). A release of hundreds of images needs one page
// of the note's occurrences per thousand; a note holds one occurrence per image and
// release, a few KiB each.
const (
	DefaultMaxOccurrences = 100_000
	DefaultMaxBytes       = 256 << 20
	DefaultMaxPageBytes   = 16 << 20
	DefaultMaxPages       = 2_000
	DefaultListTimeout    = 10 * time.Minute
)

// ListLimits bound one listing (List, ListFor or ForImage) against a server that never
// stops sending. Beyond any of them the listing fails with an *UnavailableError wrapping a
// *LimitError (errors.Is(err, ErrListingLimit)): "attestation server sent more than ...".
type ListLimits struct {
	MaxOccurrences int           // occurrences served over all pages, kept or not; default 100,000
	MaxBytes       int64         // bytes of 2xx answers over all pages and retries; default 256 MiB
	MaxPageBytes   int64         // bytes of one page's answer; default 16 MiB
	MaxPages       int           // pages; default 2,000
	Timeout        time.Duration // the whole listing, retries and waits included; default 10 min
}

// DefaultListLimits returns the default limits.
func DefaultListLimits() ListLimits {
	return ListLimits{MaxOccurrences: DefaultMaxOccurrences, MaxBytes: DefaultMaxBytes,
		MaxPageBytes: DefaultMaxPageBytes, MaxPages: DefaultMaxPages, Timeout: DefaultListTimeout}
}

// WithListLimits sets the listing limits; a zero field keeps its default, a negative one is
// an error.
func WithListLimits(l ListLimits) ClientOption {
	return func(c *Client) error {
		if l.MaxOccurrences < 0 || l.MaxBytes < 0 || l.MaxPageBytes < 0 || l.MaxPages < 0 || l.Timeout < 0 {
			return fmt.Errorf("WithListLimits(%+v): limits must not be negative", l)
		}
		d := DefaultListLimits()
		if l.MaxOccurrences > 0 {
			d.MaxOccurrences = l.MaxOccurrences
		}
		if l.MaxBytes > 0 {
			d.MaxBytes = l.MaxBytes
		}
		if l.MaxPageBytes > 0 {
			d.MaxPageBytes = l.MaxPageBytes
		}
		if l.MaxPages > 0 {
			d.MaxPages = l.MaxPages
		}
		if l.Timeout > 0 {
			d.Timeout = l.Timeout
		}
		c.limits = d
		return nil
	}
}

// ListLimits returns the client's listing limits.
func (c *Client) ListLimits() ListLimits { return c.limits }

// boundedReader counts a page's body against the page and listing byte limits, and keeps
// the transport's read error apart (a broken body is retried, a limit is not).
type boundedReader struct {
	r       io.Reader
	limits  *ListLimits
	st      *listState
	page    int64
	err     error
	readErr error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	b.page += int64(n)
	b.st.bytes += int64(n)
	switch {
	case b.page > b.limits.MaxPageBytes:
		b.err = &LimitError{Limit: "MaxPageBytes", What: "bytes in one page", Max: b.limits.MaxPageBytes}
		return 0, b.err
	case b.st.bytes > b.limits.MaxBytes:
		b.err = &LimitError{Limit: "MaxBytes", What: "bytes in a listing", Max: b.limits.MaxBytes}
		return 0, b.err
	}
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

// Client reads occurrences of the attestor note from a Grafeas v1beta1 endpoint. It is
// safe for concurrent use.
type Client struct {
	address  *url.URL
	token    string
	http     *http.Client
	attempts int
	backoff  time.Duration
	pageSize int
	log      *slog.Logger
	sleep    func(context.Context, time.Duration) error
	requests atomic.Int64
	limits   ListLimits
}

// ClientOption configures a Client.
type ClientOption func(*Client) error

// WithToken sets the vendor token, sent as "Authorization: Bearer <token>". It never
// appears in an error, a log record or String(). Default: no Authorization header.
func WithToken(token string) ClientOption {
	return func(c *Client) error {
		if strings.ContainsAny(token, "\r\n") {
			return errors.New("token contains a line break")
		}
		c.token = token
		return nil
	}
}

// WithHTTPClient sets the HTTP client. Default: a client with a 60 s time-out per request.
func WithHTTPClient(h *http.Client) ClientOption {
	return func(c *Client) error {
		if h == nil {
			return errors.New("WithHTTPClient: nil client")
		}
		c.http = h
		return nil
	}
}

// WithRetry sets the number of attempts per request (at least 1) and the base of the
// exponential backoff between them; 429 and 5xx answers and network errors are retried,
// honouring Retry-After up to a minute. Default: 4 attempts, 500 ms base.
func WithRetry(attempts int, base time.Duration) ClientOption {
	return func(c *Client) error {
		if attempts < 1 || base < 0 {
			return fmt.Errorf("WithRetry(%d, %s): attempts must be >= 1 and base >= 0", attempts, base)
		}
		c.attempts, c.backoff = attempts, base
		return nil
	}
}

// WithPageSize sets pageSize (1 to 1000). Default: 1000.
func WithPageSize(n int) ClientOption {
	return func(c *Client) error {
		if n < 1 || n > maxPageSize {
			return fmt.Errorf("WithPageSize(%d): must be between 1 and %d", n, maxPageSize)
		}
		c.pageSize = n
		return nil
	}
}

// WithLogger sets the logger for debug records of requests and retries. Default: discard.
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *Client) error {
		if l != nil {
			c.log = l
		}
		return nil
	}
}

// NewClient returns a client of the occurrences endpoint at address (the full URL ending in
// ".../notes/<note>/occurrences"). The address must not carry credentials.
func NewClient(address string, opts ...ClientOption) (*Client, error) {
	u, err := parseAddress(address)
	if err != nil {
		return nil, err
	}
	c := &Client{
		address:  u,
		http:     &http.Client{Timeout: defaultHTTPTimeout},
		attempts: defaultAttempts,
		backoff:  defaultBackoff,
		pageSize: defaultPageSize,
		log:      slog.New(slog.DiscardHandler),
		sleep:    sleepCtx,
		limits:   DefaultListLimits(),
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.token != "" {
		if err := CheckAddress(address); err != nil {
			return nil, err
		}
	}
	// A copy, so that the caller's client is not changed.
	h := *c.http
	h.CheckRedirect = checkRedirect(c.http.CheckRedirect, c.token != "")
	c.http = &h
	return c, nil
}

// parseAddress parses an attestation server's address: an http(s) URL with a host and no
// credentials in it.
func parseAddress(address string) (*url.URL, error) {
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("attestation address: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("attestation address %q: want an http(s) URL", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("attestation address %q: credentials in the URL are not allowed; use the token", u.Redacted())
	}
	return u, nil
}

// CheckAddress checks an attestation server's address for a client that sends the vendor
// token: an https URL, with a host and no credentials in it; plain http only to this
// machine (localhost, 127.0.0.0/8, ::1: a test server), as the token would cross the
// network in clear text. NewClient checks it when WithToken is given.
func CheckAddress(address string) error {
	u, err := parseAddress(address)
	if err != nil {
		return err
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("attestation address %q: plain http would send the vendor token in clear text to %s; use https (plain http is only for a server on this machine)", u.Redacted(), u.Hostname())
	}
	return nil
}

// loopbackHost reports whether host names this machine: localhost (any case, with or
// without a trailing dot) or a loopback IP address (all of 127.0.0.0/8). Not manifest's
// rule for the vendor's host spellings, on purpose: that one asks "the same registry?",
// this one "does the token stay on this machine?".
func loopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RefuseDowngrade is a CheckRedirect for an [http.Client] that carries a credential: it
// refuses a redirect from https to anything else (Go keeps the Authorization header on a
// redirect to the same host on another scheme) and stops after 10 redirects. The error
// wraps ErrInsecureRedirect. Every client of tmsync that sends a token or password uses
// it (or, here, checkRedirect with the caller's own policy after it).
func RefuseDowngrade(req *http.Request, via []*http.Request) error {
	for _, v := range via {
		if v.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return &downgradeError{from: v.URL.Redacted(), to: req.URL.Redacted()}
		}
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// RefuseInsecureRedirect is RefuseDowngrade for a client that sends the vendor token to
// the attestation server: it also refuses a redirect to plain http anywhere but this
// machine (CheckAddress's rule). Go keeps the Authorization header on a redirect to a
// subdomain, so a plain-http test server on localhost could send the token, in clear
// text, to x.localhost, which DNS resolves.
func RefuseInsecureRedirect(req *http.Request, via []*http.Request) error {
	if err := plainOffMachine(req); err != nil {
		return err
	}
	return RefuseDowngrade(req, via)
}

// plainOffMachine refuses a request to plain http off this machine, as ErrInsecureRedirect.
func plainOffMachine(req *http.Request) error {
	if req.URL.Scheme != "https" && !loopbackHost(req.URL.Hostname()) {
		return fmt.Errorf("%w: refusing a redirect to %s: plain http off this machine would carry the token in clear text", ErrInsecureRedirect, req.URL.Redacted())
	}
	return nil
}

// downgradeError is RefuseDowngrade's refusal: an ErrInsecureRedirect worded for any
// client (ErrInsecureRedirect's own text names the attestation server).
type downgradeError struct{ from, to string }

func (e *downgradeError) Error() string {
	return fmt.Sprintf("refusing a redirect from %s to %s: it would downgrade https", e.from, e.to)
}

func (e *downgradeError) Unwrap() error { return ErrInsecureRedirect }

// checkRedirect refuses a redirect from https to anything else (the token would travel in
// clear text, and the answer could be changed on the way) and, for a client with a token,
// one to plain http off this machine (plainOffMachine), then applies next, the
// caller's policy, or else a limit of 10 redirects. Go's client already drops the
// Authorization header on a redirect to another host; it keeps it for the same host on
// another port or scheme, which is what this closes.
func checkRedirect(next func(*http.Request, []*http.Request) error, withToken bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		for _, v := range via {
			if v.URL.Scheme == "https" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: %s to %s", ErrInsecureRedirect, v.URL.Redacted(), req.URL.Redacted())
			}
		}
		if withToken {
			if err := plainOffMachine(req); err != nil {
				return err
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
}

// String describes the client without its token.
func (c *Client) String() string { return "attest.Client(" + c.address.String() + ")" }

// LogValue keeps the token out of structured logs.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Address is the endpoint address (no secret in it).
func (c *Client) Address() string { return c.address.String() }

// Requests is the number of HTTP requests made so far, retries included.
func (c *Client) Requests() int { return int(c.requests.Load()) }

// List returns every occurrence of the note, following nextPageToken. It keeps every
// occurrence served, so its memory grows with the listing up to the limits
// ([ListLimits]); a caller that knows which images it needs should use [Client.ListFor],
// which keeps only theirs.
func (c *Client) List(ctx context.Context) ([]Occurrence, error) {
	return c.pages(ctx, "listing occurrences", "", func(Occurrence) bool { return true })
}

// ListFor lists the note's occurrences once, like List, but keeps only those about one of
// subjects (matched by normalised resource URI, as [Index] does): the others are decoded
// one at a time and dropped, so memory stays flat however many the server sends. The
// listing limits ([ListLimits]) count every occurrence and byte served, kept or not.
func (c *Client) ListFor(ctx context.Context, subjects []Subject) ([]Occurrence, error) {
	want := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		if k := s.key(); k != "" {
			want[k] = true
		}
	}
	return c.pages(ctx, "listing occurrences", "", func(o Occurrence) bool { return want[resourceKey(o.ResourceURI)] })
}

// ForImage returns the occurrences for s, asking the server to filter by resource URL and
// then keeping only those whose resource URI matches s (the filter is not trusted).
func (c *Client) ForImage(ctx context.Context, s Subject) ([]Occurrence, error) {
	key := s.key()
	dropped := 0
	occs, err := c.pages(ctx, "listing occurrences for "+s.String(), `resourceUrl="`+s.ResourceURL()+`"`, func(o Occurrence) bool {
		if key != "" && resourceKey(o.ResourceURI) == key {
			return true
		}
		dropped++
		return false
	})
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		c.log.Debug("server returned occurrences of other resources", "subject", s.String(), "dropped", dropped)
	}
	return occs, nil
}

// listState is what one listing has consumed so far, for its limits.
type listState struct {
	bytes       int64 // bytes of answers read, all pages and attempts
	occurrences int   // occurrences of completed pages
}

func (c *Client) pages(ctx context.Context, op, filter string, keep func(Occurrence) bool) ([]Occurrence, error) {
	lim := c.limits
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, lim.Timeout, &LimitError{Limit: "Timeout", What: "a listing's time", Max: int64(lim.Timeout)})
	defer cancel()
	fail := func(err error) ([]Occurrence, error) {
		var le *LimitError
		if parent.Err() == nil && ctx.Err() != nil && errors.As(context.Cause(ctx), &le) {
			err = le
		}
		return nil, &UnavailableError{Op: op, Err: err}
	}
	var out []Occurrence
	st := &listState{}
	seen := map[string]bool{}
	token := ""
	for page := 0; ; page++ {
		if page >= lim.MaxPages {
			return fail(&LimitError{Limit: "MaxPages", What: "pages", Max: int64(lim.MaxPages)})
		}
		q := c.address.Query()
		q.Set("pageSize", strconv.Itoa(c.pageSize))
		if filter != "" {
			q.Set("filter", filter)
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		u := *c.address
		u.RawQuery = q.Encode()
		var res pageResult
		err := c.get(ctx, u.String(), st, func(body io.Reader) error {
			var err error
			res, err = c.decodePage(body, st, page, keep)
			return err
		})
		if err != nil {
			return fail(err)
		}
		st.occurrences += res.served
		out = append(out, res.kept...)
		if res.next == "" {
			return out, nil
		}
		if seen[res.next] {
			return fail(fmt.Errorf("%w: nextPageToken repeats", ErrBadResponse))
		}
		if len(seen) < lim.MaxPages {
			seen[res.next] = true
		}
		token = res.next
	}
}

type pageResult struct {
	kept   []Occurrence
	served int
	next   string
}

// decodePage reads one page from body as a stream: each occurrence is decoded, checked
// against keep and dropped unless kept, so a page costs the memory of the occurrences kept
// plus the decoder's buffer.
func (c *Client) decodePage(body io.Reader, st *listState, page int, keep func(Occurrence) bool) (pageResult, error) {
	var res pageResult
	dec := json.NewDecoder(body)
	bad := func(err error) (pageResult, error) {
		var le *LimitError
		if errors.As(err, &le) {
			return pageResult{}, le
		}
		var re *retryableError
		if errors.As(err, &re) {
			return pageResult{}, err
		}
		return pageResult{}, fmt.Errorf("%w: page %d: %v", ErrBadResponse, page+1, err)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return bad(err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		key, _ := t.(string)
		switch key {
		case "occurrences":
			t, err := dec.Token()
			if err != nil {
				return bad(err)
			}
			if t == nil { // null
				continue
			}
			if d, ok := t.(json.Delim); !ok || d != '[' {
				return bad(fmt.Errorf("occurrences is not an array"))
			}
			for dec.More() {
				if st.occurrences+res.served >= c.limits.MaxOccurrences {
					return bad(&LimitError{Limit: "MaxOccurrences", What: "occurrences", Max: int64(c.limits.MaxOccurrences)})
				}
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return bad(err)
				}
				res.served++
				o, err := ParseOccurrence(raw)
				if err != nil {
					// One bad occurrence must not hide the others: skip it, the image it is
					// about then has one attestation fewer.
					c.log.Warn("skipping malformed occurrence", "page", page, "index", res.served-1, "error", Sanitize(err.Error()))
					continue
				}
				if keep(o) {
					res.kept = append(res.kept, o)
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return bad(err)
			}
		case "nextPageToken":
			if err := dec.Decode(&res.next); err != nil {
				return bad(err)
			}
		default:
			var skip json.RawMessage // bounded by the page limit
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the answer")
		}
		return bad(err)
	}
	return res, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want %q", t, string(want))
	}
	return nil
}

// get performs one GET with retries and hands the body of a 2xx answer to read, which may
// return a *retryableError (the body broke off) to try again.
func (c *Client) get(ctx context.Context, u string, st *listState, read func(io.Reader) error) error {
	var lastErr error
	for attempt := 1; ; attempt++ {
		retryAfter, err := c.try(ctx, u, st, read)
		if err == nil {
			return nil
		}
		lastErr = err
		var re *retryableError
		if !errors.As(err, &re) || attempt >= c.attempts || ctx.Err() != nil {
			if re != nil {
				return re.err
			}
			return err
		}
		wait := c.backoff << (attempt - 1)
		if wait > maxBackoff || wait < 0 {
			wait = maxBackoff
		}
		if retryAfter > 0 {
			wait = min(retryAfter, maxRetryAfter)
		}
		c.log.Debug("retrying attestation request", "attempt", attempt, "wait", wait, "error", re.err.Error())
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (after: %v)", err, lastErr)
		}
	}
}

type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// maxErrorBody bounds the part of an error answer read for its message.
const maxErrorBody = 64 << 10

func (c *Client) try(ctx context.Context, u string, st *listState, read func(io.Reader) error) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		err = c.redact(err)
		if ctx.Err() != nil || errors.Is(err, ErrInsecureRedirect) {
			return 0, err
		}
		return 0, &retryableError{err}
	}
	defer resp.Body.Close()
	c.log.Debug("attestation request", "status", resp.StatusCode)
	sc := resp.StatusCode
	if sc >= 200 && sc < 300 {
		br := &boundedReader{r: resp.Body, limits: &c.limits, st: st}
		if err := read(br); err != nil {
			if br.readErr != nil && !errors.Is(err, ErrListingLimit) {
				// The body broke off: try the page again.
				return 0, &retryableError{c.redact(fmt.Errorf("reading answer: %w", br.readErr))}
			}
			return 0, err
		}
		return 0, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	switch {
	case sc == http.StatusUnauthorized || sc == http.StatusForbidden:
		return 0, fmt.Errorf("%w: %s%s", ErrUnauthorized, Sanitize(resp.Status), c.snippet(body))
	case sc == http.StatusNotFound:
		return 0, fmt.Errorf("%w: %s%s", ErrNotFound, Sanitize(resp.Status), c.snippet(body))
	case sc == http.StatusTooManyRequests || sc >= 500:
		return parseRetryAfter(resp.Header.Get("Retry-After")),
			&retryableError{fmt.Errorf("%w: %s%s", ErrUnexpectedStatus, Sanitize(resp.Status), c.snippet(body))}
	default:
		return 0, fmt.Errorf("%w: %s%s", ErrUnexpectedStatus, Sanitize(resp.Status), c.snippet(body))
	}
}

// snippet is the start of an error body, for the operator: the token removed (raw,
// URL-escaped, base64) in case the server echoes the request, control characters escaped.
func (c *Client) snippet(body []byte) string {
	s := strings.TrimSpace(Sanitize(c.redactString(string(body))))
	if s == "" {
		return ""
	}
	if len(s) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return ": " + s
}

const maxSnippet = 200

func (c *Client) redactString(s string) string { return Redact(s, c.token) }

func (c *Client) redact(err error) error {
	if c.token == "" {
		return err
	}
	if r := c.redactString(err.Error()); r != err.Error() {
		return redactedError{msg: r, err: err}
	}
	return err
}

// redactedError shows a redacted message and keeps the original for errors.Is (the
// sentinels and context errors have no token in them).
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }

// Unwrap gives the sentinels the original matched, not the original itself (it holds the
// token).
func (e redactedError) Unwrap() []error {
	var out []error
	for _, s := range []error{context.Canceled, context.DeadlineExceeded, ErrInsecureRedirect} {
		if errors.Is(e.err, s) {
			out = append(out, s)
		}
	}
	return out
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		if n > int(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
