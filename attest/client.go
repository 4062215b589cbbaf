package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
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
	maxResponseBytes   = 256 << 20
	maxPages           = 10000
)

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
	c := &Client{
		address:  u,
		http:     &http.Client{Timeout: defaultHTTPTimeout},
		attempts: defaultAttempts,
		backoff:  defaultBackoff,
		pageSize: defaultPageSize,
		log:      slog.New(slog.DiscardHandler),
		sleep:    sleepCtx,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// String describes the client without its token.
func (c *Client) String() string { return "attest.Client(" + c.address.String() + ")" }

// LogValue keeps the token out of structured logs.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Address is the endpoint address (no secret in it).
func (c *Client) Address() string { return c.address.String() }

// Requests is the number of HTTP requests made so far, retries included.
func (c *Client) Requests() int { return int(c.requests.Load()) }

// List returns every occurrence of the note, following nextPageToken.
func (c *Client) List(ctx context.Context) ([]Occurrence, error) {
	return c.pages(ctx, "listing occurrences", "")
}

// ForImage returns the occurrences for s, asking the server to filter by resource URL and
// then keeping only those whose resource URI matches s (the filter is not trusted).
func (c *Client) ForImage(ctx context.Context, s Subject) ([]Occurrence, error) {
	occs, err := c.pages(ctx, "listing occurrences for "+s.String(), `resourceUrl="`+s.ResourceURL()+`"`)
	if err != nil {
		return nil, err
	}
	key := s.key()
	out := occs[:0]
	for _, o := range occs {
		if key != "" && resourceKey(o.ResourceURI) == key {
			out = append(out, o)
		}
	}
	if dropped := len(occs) - len(out); dropped > 0 {
		c.log.Debug("server returned occurrences of other resources", "subject", s.String(), "dropped", dropped)
	}
	return out, nil
}

type listResponse struct {
	Occurrences   []json.RawMessage `json:"occurrences"`
	NextPageToken string            `json:"nextPageToken"`
}

func (c *Client) pages(ctx context.Context, op, filter string) ([]Occurrence, error) {
	var out []Occurrence
	seen := map[string]bool{}
	token := ""
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, &UnavailableError{Op: op, Err: fmt.Errorf("%w: more than %d pages", ErrBadResponse, maxPages)}
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
		body, err := c.get(ctx, u.String())
		if err != nil {
			return nil, &UnavailableError{Op: op, Err: err}
		}
		var r listResponse
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, &UnavailableError{Op: op, Err: fmt.Errorf("%w: %v", ErrBadResponse, err)}
		}
		for i, raw := range r.Occurrences {
			o, err := ParseOccurrence(raw)
			if err != nil {
				// One bad occurrence must not hide the others: skip it, the image it is
				// about then has one attestation fewer.
				c.log.Warn("skipping malformed occurrence", "page", page, "index", i, "error", err)
				continue
			}
			out = append(out, o)
		}
		if r.NextPageToken == "" {
			return out, nil
		}
		if seen[r.NextPageToken] {
			return nil, &UnavailableError{Op: op, Err: fmt.Errorf("%w: nextPageToken repeats", ErrBadResponse)}
		}
		seen[r.NextPageToken] = true
		token = r.NextPageToken
	}
}

// get performs one GET with retries and returns the body of a 2xx answer.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		body, retryAfter, err := c.try(ctx, u)
		if err == nil {
			return body, nil
		}
		lastErr = err
		var re *retryableError
		if !errors.As(err, &re) || attempt >= c.attempts || ctx.Err() != nil {
			if re != nil {
				return nil, re.err
			}
			return nil, err
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
			return nil, fmt.Errorf("%w (after: %v)", err, lastErr)
		}
	}
}

type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

func (c *Client) try(ctx context.Context, u string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		err = c.redact(err)
		if ctx.Err() != nil {
			return nil, 0, err
		}
		return nil, 0, &retryableError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, 0, &retryableError{c.redact(fmt.Errorf("reading answer: %w", err))}
	}
	if len(body) > maxResponseBytes {
		return nil, 0, fmt.Errorf("%w: answer larger than %d bytes", ErrBadResponse, maxResponseBytes)
	}
	c.log.Debug("attestation request", "status", resp.StatusCode, "bytes", len(body))
	switch sc := resp.StatusCode; {
	case sc >= 200 && sc < 300:
		return body, 0, nil
	case sc == http.StatusUnauthorized || sc == http.StatusForbidden:
		return nil, 0, fmt.Errorf("%w: %s%s", ErrUnauthorized, resp.Status, c.snippet(body))
	case sc == http.StatusNotFound:
		return nil, 0, fmt.Errorf("%w: %s%s", ErrNotFound, resp.Status, c.snippet(body))
	case sc == http.StatusTooManyRequests || sc >= 500:
		return nil, parseRetryAfter(resp.Header.Get("Retry-After")),
			&retryableError{fmt.Errorf("%w: %s%s", ErrUnexpectedStatus, resp.Status, c.snippet(body))}
	default:
		return nil, 0, fmt.Errorf("%w: %s%s", ErrUnexpectedStatus, resp.Status, c.snippet(body))
	}
}

// snippet is the start of an error body, for the operator, with the token removed in case
// the server echoes the request.
func (c *Client) snippet(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return ""
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return ": " + c.redactString(strings.ToValidUTF8(string(b), "?"))
}

func (c *Client) redactString(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "REDACTED")
}

func (c *Client) redact(err error) error {
	if c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return errors.New(c.redactString(err.Error()))
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
