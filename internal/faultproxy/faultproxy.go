package faultproxy

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config says which faults the proxy injects. The zero value injects none: the proxy
// then only forwards.
type Config struct {
	// Seed makes the decisions reproducible; see the package doc.
	Seed int64
	// Sequential draws decisions in arrival order from one seeded source instead of
	// keying them by request; see the package doc. Default false (keyed).
	Sequential bool

	// ErrorRate is the share of eligible requests answered with an error instead of
	// being forwarded. Default 0.
	ErrorRate float64
	// Statuses are the statuses of injected errors, chosen uniformly. Default 500, 502,
	// 503, 429.
	Statuses []int
	// RetryAfter is sent as Retry-After with injected 429 and 503 answers, in whole
	// seconds, at least 1. Default 1s.
	RetryAfter time.Duration

	// CutRate is the share of forwarded eligible blob downloads
	// (GET /v2/<name>/blobs/<alg>:<hex>) answered 200 or 206 whose body is cut: the
	// status, the headers and between 10% and 90% of the body are sent, then the
	// connection is closed. Default 0.
	CutRate float64

	// ResetRate is the share of eligible requests not matched by ErrorRate that are
	// answered by resetting the connection (TCP RST, no response at all), as a
	// middlebox or an overloaded front end does. Default 0.
	ResetRate float64

	// StallRate is the share of eligible requests, not already failed, reset or cut,
	// whose answer stops for Stall: a blob download after 10% to 90% of its body (the
	// part before is flushed), any other request before its status line. The answer
	// then goes on whole, so a client without an idle timeout only sees a slow
	// transfer. Default 0.
	StallRate float64
	// Stall is how long a stalled answer sends nothing. Required when StallRate > 0.
	Stall time.Duration

	// Latency is added to every eligible request before it is answered, plus a uniform
	// share of LatencyJitter. Default 0.
	Latency, LatencyJitter time.Duration

	// Pad makes every eligible blob download answered 200 longer than the blob: its
	// Content-Length is dropped (the body goes chunked) and Pad bytes of zeros follow the
	// blob's; -1: zeros without end, until the client leaves. Not drawn, not counted in
	// MaxFaults: every eligible download is padded (narrow it with Match). A client must
	// stop reading at the blob's size. Default 0.
	Pad int64

	// Match says which requests are eligible for faults, latency included; nil means
	// all. Requests not matched are forwarded untouched and do not count as attempts.
	Match func(*http.Request) bool

	// MaxFaults stops injecting errors and cuts after this many since the last
	// New or SetConfig. Default 0: no limit.
	MaxFaults int
}

// Stats count what the proxy did since New.
type Stats struct {
	// Requests is every request received, eligible or not.
	Requests int
	// Forwarded is the requests passed to the target (cut ones included).
	Forwarded int
	// Errors counts injected error answers by status.
	Errors map[int]int
	// Cuts is the responses cut mid-body.
	Cuts int
	// Resets is the connections reset instead of answering.
	Resets int
	// Stalls is the answers stalled.
	Stalls int
	// Pads is the blob downloads padded (Config.Pad), counted when the client closes
	// them; not in Faults.
	Pads int

	// BodyBytes is every response body byte forwarded to clients (injected error
	// bodies are not counted).
	BodyBytes int64
	// Blobs is what blob downloads (GET /v2/<name>/blobs/<digest> answered 200 or 206)
	// sent to clients, by repository and digest: the source egress of a sync. A cut
	// body counts the bytes sent before the cut.
	Blobs map[BlobKey]BlobCount
}

// BlobKey names a blob in a repository.
type BlobKey struct {
	Repository, Digest string
}

// BlobCount is what was sent of one blob.
type BlobCount struct {
	// Gets is the downloads answered 200 or 206, cut ones included.
	Gets int
	// Bytes is the body bytes sent.
	Bytes int64
}

// BlobBytes is the sum of Blobs: every blob body byte sent.
func (s Stats) BlobBytes() int64 {
	var n int64
	for _, c := range s.Blobs {
		n += c.Bytes
	}
	return n
}

// BlobBytesByDigest sums Blobs over repositories: what each distinct blob cost.
func (s Stats) BlobBytesByDigest() map[string]int64 {
	out := map[string]int64{}
	for k, c := range s.Blobs {
		out[k.Digest] += c.Bytes
	}
	return out
}

// Faults is the number of errors and cuts injected.
func (s Stats) Faults() int {
	n := s.Cuts + s.Resets + s.Stalls
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// FaultKind names a kind of injected fault.
type FaultKind string

// The kinds of fault.
const (
	KindError FaultKind = "error"
	KindCut   FaultKind = "cut"
	KindReset FaultKind = "reset"
	KindStall FaultKind = "stall"
	KindPad   FaultKind = "pad"
)

// Fault records one injected fault, enough to find it again in a replay.
type Fault struct {
	Kind FaultKind
	// Method and Path are the request's; Key is the normalised method and path that
	// keys decisions, and Attempt its attempt number (from 1).
	Method, Path, Key string
	Attempt           int
	// Status is the injected status (KindError) or the status of the cut or stalled
	// response (0 for a reset, or a stall before the status line).
	Status int
	// Sent is how many body bytes were sent before a cut or a stall, of Size (-1 if
	// unknown); for a pad, the bytes sent after the blob's.
	Sent, Size int64
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	// Host is "127.0.0.1:PORT": the proxy's name in image references.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string

	target    *url.URL
	rp        *httputil.ReverseProxy
	transport *http.Transport
	srv       *http.Server
	served    chan struct{}

	mu       sync.Mutex
	cfg      Config
	seq      *sequence // nil unless cfg.Sequential
	attempts map[string]int
	injected int // faults counted against MaxFaults since the last New or SetConfig
	stats    Stats
	faults   []Fault
}

// New starts a proxy to target on a free 127.0.0.1 port. Close stops it.
func New(target *url.URL, cfg Config) (*Proxy, error) {
	if target == nil || target.Host == "" {
		return nil, fmt.Errorf("%w: target %v has no host", ErrConfig, target)
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the fault proxy: %w", err)
	}
	p := &Proxy{
		Host:      l.Addr().String(),
		target:    target,
		transport: http.DefaultTransport.(*http.Transport).Clone(),
		served:    make(chan struct{}),
		attempts:  map[string]int{},
		stats:     Stats{Errors: map[int]int{}, Blobs: map[BlobKey]BlobCount{}},
	}
	p.URL = "http://" + p.Host
	p.setConfig(cfg)
	quiet := log.New(io.Discard, "", 0) // never log: requests carry credentials
	p.transport.Proxy = nil             // the target is local; ignore HTTP_PROXY
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the registry builds Location headers from Host
		},
		Transport:      p.transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: quiet,
		// Flush every write, so that the part of a cut body before the cut reaches the
		// client before the connection is closed.
		FlushInterval: -1,
	}
	p.srv = &http.Server{Handler: p, ErrorLog: quiet, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(l)
	}()
	return p, nil
}

// Start starts a proxy to target, "HOST:PORT" or a URL, for the test and closes it at
// cleanup.
func Start(t TB, target string, cfg Config) *Proxy {
	t.Helper()
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("parsing fault proxy target %q: %v", target, err)
	}
	p, err := New(u, cfg)
	if err != nil {
		t.Fatalf("starting fault proxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Close stops the proxy, dropping connections in flight.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	<-p.served
	p.transport.CloseIdleConnections()
	return err
}

// SetConfig replaces the faults to inject from the next request on; requests in flight
// keep the fate they were given. Attempt numbers are kept, the MaxFaults count starts
// again. An invalid Config is refused and the old one kept.
func (p *Proxy) SetConfig(cfg Config) error {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return err
	}
	p.setConfig(cfg)
	return nil
}

func (p *Proxy) setConfig(cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.injected = 0
	p.seq = nil
	if cfg.Sequential {
		p.seq = newSequence(cfg.Seed)
	}
}

// Stats returns a copy of the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Errors = make(map[int]int, len(p.stats.Errors))
	for k, v := range p.stats.Errors {
		s.Errors[k] = v
	}
	s.Blobs = make(map[BlobKey]BlobCount, len(p.stats.Blobs))
	for k, v := range p.stats.Blobs {
		s.Blobs[k] = v
	}
	return s
}

// ResetCounts forgets the stats, the faults and the attempt numbers, as a new proxy on
// the same port would: for a series of seeded runs against one source whose host is
// written in a release. The config stays.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{Errors: map[int]int{}, Blobs: map[BlobKey]BlobCount{}}
	p.faults = nil
	p.attempts = map[string]int{}
	p.injected = 0
	if p.cfg.Sequential {
		p.seq = newSequence(p.cfg.Seed)
	}
}

// Faults returns the faults injected so far, in the order they happened.
func (p *Proxy) Faults() []Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.faults)
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Statuses == nil {
		cfg.Statuses = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests}
	}
	cfg.Statuses = slices.Clone(cfg.Statuses) // the caller may reuse its slice
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = time.Second
	}
	switch {
	case cfg.ErrorRate < 0 || cfg.ErrorRate > 1:
		return cfg, fmt.Errorf("%w: ErrorRate %v is outside [0, 1]", ErrConfig, cfg.ErrorRate)
	case cfg.CutRate < 0 || cfg.CutRate > 1:
		return cfg, fmt.Errorf("%w: CutRate %v is outside [0, 1]", ErrConfig, cfg.CutRate)
	case cfg.ResetRate < 0 || cfg.ResetRate > 1:
		return cfg, fmt.Errorf("%w: ResetRate %v is outside [0, 1]", ErrConfig, cfg.ResetRate)
	case cfg.StallRate < 0 || cfg.StallRate > 1:
		return cfg, fmt.Errorf("%w: StallRate %v is outside [0, 1]", ErrConfig, cfg.StallRate)
	case cfg.StallRate > 0 && cfg.Stall <= 0:
		return cfg, fmt.Errorf("%w: StallRate %v with no Stall duration", ErrConfig, cfg.StallRate)
	case cfg.ErrorRate > 0 && len(cfg.Statuses) == 0:
		return cfg, fmt.Errorf("%w: ErrorRate %v with no Statuses", ErrConfig, cfg.ErrorRate)
	case cfg.RetryAfter < 0 || cfg.Latency < 0 || cfg.LatencyJitter < 0 || cfg.Stall < 0:
		return cfg, fmt.Errorf("%w: negative duration", ErrConfig)
	case cfg.Pad < -1:
		return cfg, fmt.Errorf("%w: Pad %d (want -1, 0 or more)", ErrConfig, cfg.Pad)
	case cfg.MaxFaults < 0:
		return cfg, fmt.Errorf("%w: negative MaxFaults %d", ErrConfig, cfg.MaxFaults)
	}
	for _, s := range cfg.Statuses {
		if s < 400 || s > 599 {
			return cfg, fmt.Errorf("%w: status %d is not an error", ErrConfig, s)
		}
	}
	return cfg, nil
}

type fateKey struct{}

// ServeHTTP decides the request's fate, waits the latency, then answers with an error or
// forwards it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, retryAfter := p.decide(r)
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.status != 0:
		p.answerError(w, r, f, retryAfter)
		return
	case f.reset:
		p.reset(w, r, f)
		return
	case f.stall > 0 && !IsBlobDownload(r):
		p.record(Fault{Kind: KindStall, Method: r.Method, Path: r.URL.Path, Key: f.key, Attempt: f.attempt, Size: -1})
		if !sleep(r.Context(), f.stall) {
			return
		}
	}
	p.mu.Lock()
	p.stats.Forwarded++
	p.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w}
	repo, dgst, isBlob := blobOf(r)
	if isBlob {
		cw.blob = &BlobKey{Repository: repo, Digest: dgst}
	}
	if f.cut || (f.stall > 0 && isBlob) || f.pad != 0 {
		r = r.WithContext(context.WithValue(r.Context(), fateKey{}, &f))
	}
	defer p.count(cw) // deferred: a cut aborts the handler with a panic
	p.rp.ServeHTTP(cw, r)
}

// count adds what cw sent to the stats.
func (p *Proxy) count(cw *countingWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.BodyBytes += cw.n
	if cw.blob != nil && (cw.status == http.StatusOK || cw.status == http.StatusPartialContent) {
		c := p.stats.Blobs[*cw.blob]
		c.Gets++
		c.Bytes += cw.n
		p.stats.Blobs[*cw.blob] = c
	}
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Proxy) record(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f.Kind {
	case KindCut:
		p.stats.Cuts++
	case KindReset:
		p.stats.Resets++
	case KindStall:
		p.stats.Stalls++
	case KindPad:
		p.stats.Pads++
	}
	p.faults = append(p.faults, f)
}

// reset closes the client's connection with a TCP RST and no answer.
func (p *Proxy) reset(w http.ResponseWriter, r *http.Request, f fate) {
	p.record(Fault{Kind: KindReset, Method: r.Method, Path: r.URL.Path, Key: f.key, Attempt: f.attempt, Size: -1})
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // cannot hijack: abort, which closes the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}

// countingWriter counts the body bytes written and keeps the status.
type countingWriter struct {
	http.ResponseWriter
	blob   *BlobKey
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush of the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (p *Proxy) answerError(w http.ResponseWriter, r *http.Request, f fate, retryAfter time.Duration) {
	// Read what the client sends first, as a registry does, so that the client sees the
	// answer rather than a broken pipe on a large upload.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	h := w.Header()
	if f.status == http.StatusTooManyRequests || f.status == http.StatusServiceUnavailable {
		secs := int64(retryAfter / time.Second)
		h.Set("Retry-After", fmt.Sprint(max(secs, 1)))
	}
	code := "UNKNOWN"
	switch f.status {
	case http.StatusTooManyRequests:
		code = "TOOMANYREQUESTS"
	case http.StatusServiceUnavailable:
		code = "UNAVAILABLE"
	}
	h.Set("Content-Type", "application/json")
	h.Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.WriteHeader(f.status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"injected by faultproxy (attempt %d of %s)"}]}`+"\n",
			code, f.attempt, f.key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Errors[f.status]++
	p.faults = append(p.faults, Fault{Kind: KindError, Method: r.Method, Path: r.URL.Path, Key: f.key, Attempt: f.attempt, Status: f.status, Size: -1})
}

// modifyResponse arms the cut of a response whose fate is to be cut.
func (p *Proxy) modifyResponse(res *http.Response) error {
	f, _ := res.Request.Context().Value(fateKey{}).(*fate)
	if f != nil && f.pad != 0 && res.StatusCode == http.StatusOK { // decide pads only what it does not cut or stall
		fault := Fault{Kind: KindPad, Method: res.Request.Method, Path: res.Request.URL.Path,
			Key: f.key, Attempt: f.attempt, Status: res.StatusCode, Size: res.ContentLength}
		res.ContentLength = -1
		res.Header.Del("Content-Length")
		res.Body = &padBody{ReadCloser: res.Body, left: f.pad, onPad: func(n int64) { fault.Sent = n; p.record(fault) }}
		return nil
	}
	if f == nil || (!f.cut && f.stall == 0) {
		return nil
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusPartialContent {
		p.release() // nothing to cut: give the fault back
		return nil
	}
	size := res.ContentLength
	var limit int64
	if size > 1 {
		limit = min(max(int64(float64(size)*f.cutAt), 1), size-1)
	} else {
		limit = 1 + int64(f.cutAt*(32<<10)) // unknown length: somewhere in the first 32 KiB
	}
	fault := Fault{Kind: KindCut, Method: res.Request.Method, Path: res.Request.URL.Path,
		Key: f.key, Attempt: f.attempt, Status: res.StatusCode, Sent: limit, Size: size}
	if f.stall > 0 {
		fault.Kind = KindStall
		ctx := res.Request.Context()
		res.Body = &cutBody{ReadCloser: res.Body, limit: limit, onCut: func() {
			p.record(fault)
		}, onShort: p.release, stall: func() bool { return sleep(ctx, f.stall) }}
		return nil
	}
	res.Body = &cutBody{ReadCloser: res.Body, limit: limit, onCut: func() { p.record(fault) }, onShort: p.release}
	return nil
}

func (p *Proxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.injected > 0 {
		p.injected--
	}
}

// cutBody yields limit bytes, then errCut, on which httputil.ReverseProxy aborts the
// connection (panic(http.ErrAbortHandler)) after flushing what it has written. With
// stall set it waits there instead (stall reports false when the client left), then
// yields the rest.
type cutBody struct {
	io.ReadCloser
	limit, read int64
	cut         bool
	onCut       func()
	onShort     func() // the body ended before the limit: nothing was cut
	stall       func() bool
	stalled     bool
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.stalled {
		return b.ReadCloser.Read(p)
	}
	if b.read >= b.limit {
		if !b.cut {
			b.cut = true
			b.onCut()
		}
		if b.stall != nil {
			b.stalled = true
			if !b.stall() {
				return 0, errCut
			}
			return b.ReadCloser.Read(p)
		}
		return 0, errCut
	}
	if rest := b.limit - b.read; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if err == io.EOF && !b.cut {
		b.cut = true // not cut, but done: onShort once
		b.onShort()
	}
	return n, err
}

// padBody is a body followed by left zeros (-1: without end); onPad is called once, when
// the body is closed, with the zeros sent.
type padBody struct {
	io.ReadCloser
	left, sent int64
	inBody     bool // past the body: padding
	onPad      func(int64)
	once       sync.Once
}

func (b *padBody) Read(p []byte) (int, error) {
	if !b.inBody {
		n, err := b.ReadCloser.Read(p)
		if err != io.EOF {
			return n, err
		}
		b.inBody = true
		if n > 0 {
			return n, nil
		}
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if b.left > 0 {
		n = int(min(int64(n), b.left))
		b.left -= int64(n)
	}
	clear(p[:n])
	b.sent += int64(n)
	return n, nil
}

func (b *padBody) Close() error {
	b.once.Do(func() { b.onPad(b.sent) })
	return b.ReadCloser.Close()
}

// Close gives the fault back if the body was closed before the cut (the client left).
func (b *cutBody) Close() error {
	if !b.cut {
		b.cut = true
		b.onShort()
	}
	return b.ReadCloser.Close()
}
