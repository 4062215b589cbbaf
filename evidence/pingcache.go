package evidence

import (
	"bytes"
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
type pingCache struct {
	base http.RoundTripper

	mu   sync.Mutex
	seen map[string]cachedPing // scheme://host/v2/ -> answer
}

type cachedPing struct {
	status int
	proto  string
	header http.Header
	body   []byte
}

// maxPingBody bounds the body of a kept ping answer (the registries' are a few bytes).
const maxPingBody = 4 << 10

func newPingCache(base http.RoundTripper) *pingCache {
	return &pingCache{base: base, seen: map[string]cachedPing{}}
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
	p.mu.Lock()
	c, ok := p.seen[key]
	p.mu.Unlock()
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
		p.mu.Unlock()
	}
	return resp, nil
}
