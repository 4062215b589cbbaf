package evidence

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
)

// pingCache answers go-containerregistry's registry pings (an unauthenticated GET /v2/,
// made once per repository and operation to learn the registry's challenge) from the
// first answer of each registry. A run lists the referrers of every image, each in its own
// repository: without it every image costs one ping more at the vendor and at the target.
// Only 200 and 401 answers are kept (the challenge is a property of the registry, not of
// the repository); a failure or any other status is passed on and not kept. A pingCache
// lives as long as its Client: one run.
//
// For a registry reached over plain HTTP (an insecure one), go-containerregistry races an
// HTTPS ping and an HTTP one on every operation; the HTTPS attempt fails (a TLS handshake
// against a plain server) but still costs a connection and a key exchange each time.
// Once a host has failed over HTTPS and answered over plain HTTP, later HTTPS pings to it
// fail at once without a connection (errPlainHTTP); the HTTP ping is then answered from
// the cache. A registry that only speaks HTTPS is never in that set: a failed HTTPS ping
// there is passed on, not kept.
type pingCache struct {
	base http.RoundTripper

	mu        sync.Mutex
	seen      map[string]cachedPing // scheme://host/v2/ -> answer
	httpsDown map[string]bool       // hosts whose HTTPS ping failed at the transport
	plain     map[string]bool       // of those, hosts that then answered over plain HTTP
}

// errPlainHTTP answers an HTTPS ping to a host known, in this run, to speak plain HTTP.
var errPlainHTTP = errors.New("registry answered over plain HTTP earlier in this run; HTTPS not tried again")

type cachedPing struct {
	status int
	proto  string
	header http.Header
	body   []byte
}

// maxPingBody bounds the body of a kept ping answer (the registries' are a few bytes).
const maxPingBody = 4 << 10

func newPingCache(base http.RoundTripper) *pingCache {
	return &pingCache{base: base, seen: map[string]cachedPing{}, httpsDown: map[string]bool{}, plain: map[string]bool{}}
}

func isPing(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/v2/" || r.URL.Path == "/v2") &&
		r.URL.RawQuery == "" && r.Header.Get("Authorization") == ""
}

func (p *pingCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isPing(r) {
		return p.base.RoundTrip(r)
	}
	key := r.URL.Scheme + "://" + r.URL.Host + "/v2/"
	https := r.URL.Scheme == "https"
	p.mu.Lock()
	c, ok := p.seen[key]
	skip := https && p.plain[r.URL.Host]
	if ok && !https && p.httpsDown[r.URL.Host] {
		p.plain[r.URL.Host] = true
	}
	p.mu.Unlock()
	if skip {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errPlainHTTP
	}
	if ok {
		if r.Body != nil {
			r.Body.Close()
		}
		return &http.Response{
			Status: http.StatusText(c.status), StatusCode: c.status, Proto: c.proto, ProtoMajor: 1, ProtoMinor: 1,
			Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)),
			Request: r,
		}, nil
	}
	resp, err := p.base.RoundTrip(r)
	if err != nil && https {
		p.mu.Lock()
		p.httpsDown[r.URL.Host] = true
		p.mu.Unlock()
	}
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPingBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) <= maxPingBody {
		p.mu.Lock()
		p.seen[key] = cachedPing{status: resp.StatusCode, proto: resp.Proto, header: resp.Header.Clone(), body: body}
		if r.URL.Scheme == "http" && p.httpsDown[r.URL.Host] {
			p.plain[r.URL.Host] = true
		}
		p.mu.Unlock()
	}
	return resp, nil
}
