package faultproxy

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// fate is what happens to one request.
type fate struct {
	key     string // normalised "METHOD path"
	attempt int    // 1 for the first request with key
	delay   time.Duration
	status  int           // non-zero: answer with this error instead of forwarding
	reset   bool          // reset the connection instead of answering
	cut     bool          // cut the response body ...
	cutAt   float64       // ... after this share of it, in [0.1, 0.9)
	stall   time.Duration // send nothing for this long: mid-body (at cutAt) for a blob download, before the headers otherwise
	pad     int64         // Config.Pad, for a blob download not otherwise faulted
}

// draws are the random numbers behind one fate. Every request takes all of them, so that
// in sequential mode a request's fate does not shift the next one's draws.
// New draws go at the end, so that a seed keeps giving the faults it gave before them.
type draws struct {
	errorP, status, cutP, cutAt, jitter, resetP, stallP float64
}

func drawFrom(r *rand.Rand) draws {
	return draws{r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64()}
}

// sequence is the arrival-order source of Config.Sequential; Proxy.mu guards it.
type sequence struct{ r *rand.Rand }

func newSequence(seed int64) *sequence {
	return &sequence{rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

// keyedDraws are the draws for attempt n of key under seed: the same in every run.
func keyedDraws(seed int64, key string, attempt int) draws {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(seed))
	binary.BigEndian.PutUint64(b[8:], uint64(attempt))
	h := sha256.New()
	h.Write(b[:])
	h.Write([]byte(key))
	sum := h.Sum(nil)
	return drawFrom(rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16]))))
}

var (
	blobPath   = regexp.MustCompile(`^/v2/.+/blobs/[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
	uploadPath = regexp.MustCompile(`^(/v2/.+/blobs/uploads/)[^/]+$`)
)

// requestKey is the method and path with the run-specific parts taken out: the upload id
// in the path, and the query except "digest".
func requestKey(r *http.Request) string {
	path := uploadPath.ReplaceAllString(r.URL.Path, "${1}*")
	key := r.Method + " " + path
	if d := r.URL.Query().Get("digest"); d != "" {
		key += "?digest=" + d
	}
	return key
}

// blobOf returns the repository and digest of GET /v2/<name>/blobs/<digest>, or ok false.
func blobOf(r *http.Request) (repo, digest string, ok bool) {
	if !IsBlobDownload(r) {
		return "", "", false
	}
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	i := strings.LastIndex(rest, "/blobs/")
	return rest[:i], rest[i+len("/blobs/"):], true
}

// IsBlobDownload reports whether r is GET /v2/<name>/blobs/<digest>: the requests that
// Config.CutRate cuts. As a Config.Match it confines all faults to blob downloads.
func IsBlobDownload(r *http.Request) bool {
	return r.Method == http.MethodGet && blobPath.MatchString(r.URL.Path)
}

// ExceptPing is a Config.Match that spares the /v2/ version check, which clients make
// once to find the auth scheme and do not retry.
func ExceptPing(r *http.Request) bool {
	return r.URL.Path != "/v2/" && r.URL.Path != "/v2"
}

// decide gives r its fate and returns it with the Retry-After of the current config.
func (p *Proxy) decide(r *http.Request) (fate, time.Duration) {
	p.mu.Lock()
	p.stats.Requests++
	cfg := p.cfg
	p.mu.Unlock()
	// Match runs outside the lock: it may call back into the proxy (Stats).
	if cfg.Match != nil && !cfg.Match(r) {
		return fate{}, cfg.RetryAfter
	}
	f := fate{key: requestKey(r)}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts[f.key]++
	f.attempt = p.attempts[f.key]
	var d draws
	if p.seq != nil {
		d = drawFrom(p.seq.r)
	} else {
		d = keyedDraws(cfg.Seed, f.key, f.attempt)
	}
	f.delay = cfg.Latency + time.Duration(d.jitter*float64(cfg.LatencyJitter))
	room := cfg.MaxFaults == 0 || p.injected < cfg.MaxFaults
	switch {
	case !room:
	case d.errorP < cfg.ErrorRate:
		f.status = cfg.Statuses[min(int(d.status*float64(len(cfg.Statuses))), len(cfg.Statuses)-1)]
		p.injected++
	case d.resetP < cfg.ResetRate:
		f.reset = true
		p.injected++
	case d.cutP < cfg.CutRate && IsBlobDownload(r):
		f.cut = true
		f.cutAt = 0.1 + 0.8*d.cutAt
		p.injected++
	case d.stallP < cfg.StallRate:
		f.stall = cfg.Stall
		f.cutAt = 0.1 + 0.8*d.cutAt
		p.injected++
	}
	if cfg.Pad != 0 && IsBlobDownload(r) && f.status == 0 && !f.reset && !f.cut && f.stall == 0 {
		f.pad = cfg.Pad
	}
	return f, cfg.RetryAfter
}
