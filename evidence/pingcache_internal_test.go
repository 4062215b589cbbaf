package evidence

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

type scriptedRT struct {
	calls  int
	status int
}

func (s *scriptedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	s.calls++
	h := http.Header{}
	h.Set("Www-Authenticate", `Bearer realm="https://auth.example/token",service="reg"`)
	return &http.Response{StatusCode: s.status, Header: h, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// TestPingCache: only an unauthenticated GET /v2/ answered 200 or 401 is kept, per
// scheme and host; every other request, and a failed ping, goes to the registry.
func TestPingCache(t *testing.T) {
	do := func(p *pingCache, method, u, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "{}" {
			t.Fatalf("body %q", b)
		}
		return resp
	}
	base := &scriptedRT{status: http.StatusUnauthorized}
	p := newPingCache(base)
	for range 3 {
		r := do(p, http.MethodGet, "https://reg.example/v2/", "")
		if r.StatusCode != 401 || !strings.Contains(r.Header.Get("Www-Authenticate"), "auth.example") {
			t.Fatalf("answer %d %v", r.StatusCode, r.Header)
		}
	}
	if base.calls != 1 {
		t.Fatalf("%d pings reached the registry, want 1", base.calls)
	}
	for _, c := range []struct{ method, u, auth string }{
		{http.MethodGet, "http://reg.example/v2/", ""},            // another scheme
		{http.MethodGet, "https://other.example/v2/", ""},         // another host
		{http.MethodGet, "https://reg.example/v2/", "Basic eDp5"}, // with credentials
		{http.MethodHead, "https://reg.example/v2/", ""},
		{http.MethodGet, "https://reg.example/v2/a/manifests/x", ""},
		{http.MethodGet, "https://reg.example/v2/?x=1", ""},
	} {
		before := base.calls
		do(p, c.method, c.u, c.auth)
		if base.calls != before+1 {
			t.Errorf("%s %s (auth %q) was answered from the cache", c.method, c.u, c.auth)
		}
	}
	failing := &scriptedRT{status: http.StatusServiceUnavailable}
	p = newPingCache(failing)
	do(p, http.MethodGet, "https://reg.example/v2/", "")
	do(p, http.MethodGet, "https://reg.example/v2/", "")
	if failing.calls != 2 {
		t.Fatalf("a 503 ping was kept: %d calls", failing.calls)
	}
}

// schemeRT fails every HTTPS request at the transport (a TLS handshake against a plain
// HTTP server) and answers plain HTTP pings 401, counting both.
type schemeRT struct{ https, http int }

func (s *schemeRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "https" {
		s.https++
		return nil, errors.New("tls: first record does not look like a TLS handshake")
	}
	s.http++
	return &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// TestPingCachePlainHTTP: once a host failed over HTTPS and answered over plain HTTP,
// later HTTPS pings to it fail without a connection; a host that only failed over HTTPS
// (a secure registry with a passing network fault) is tried again every time, and other
// hosts and non-ping requests are not affected.
func TestPingCachePlainHTTP(t *testing.T) {
	base := &schemeRT{}
	p := newPingCache(base)
	ping := func(u string) error {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		resp, err := p.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	// A secure-only host whose HTTPS fails: never kept.
	for range 3 {
		if err := ping("https://secure.example/v2/"); err == nil || errors.Is(err, errPlainHTTP) {
			t.Fatalf("https ping of a host never seen on http: %v", err)
		}
	}
	if base.https != 3 {
		t.Fatalf("%d HTTPS pings reached secure.example, want 3", base.https)
	}
	// HTTP answered before any HTTPS failure: HTTPS is still tried.
	if err := ping("http://early.example/v2/"); err != nil {
		t.Fatal(err)
	}
	if err := ping("https://early.example/v2/"); errors.Is(err, errPlainHTTP) || base.https != 4 {
		t.Fatalf("https to a host that did not fail over HTTPS yet: %v (%d)", err, base.https)
	}
	// Now it has failed over HTTPS; its HTTP answer is cached: the next cached HTTP
	// answer marks it plain.
	if err := ping("http://early.example/v2/"); err != nil {
		t.Fatal(err)
	}
	if err := ping("https://early.example/v2/"); !errors.Is(err, errPlainHTTP) || base.https != 4 {
		t.Fatalf("https to a plain host: %v (%d HTTPS requests)", err, base.https)
	}
	// The usual order: HTTPS fails, HTTP answers; then HTTPS fails at once, HTTP cached.
	if err := ping("https://reg.example:5000/v2/"); err == nil || base.https != 5 {
		t.Fatalf("first https: %v", err)
	}
	if err := ping("http://reg.example:5000/v2/"); err != nil || base.http != 2 {
		t.Fatalf("first http: %v (%d)", err, base.http)
	}
	for range 5 {
		if err := ping("https://reg.example:5000/v2/"); !errors.Is(err, errPlainHTTP) {
			t.Fatalf("https to a plain host: %v", err)
		}
		if err := ping("http://reg.example:5000/v2/"); err != nil {
			t.Fatal(err)
		}
	}
	if base.https != 5 || base.http != 2 {
		t.Fatalf("requests reached the registry: https %d http %d, want 5 and 2", base.https, base.http)
	}
	// Another port is another host; a non-ping HTTPS request is never cut.
	if err := ping("https://reg.example:5001/v2/"); errors.Is(err, errPlainHTTP) {
		t.Fatal("another port was cut")
	}
	req, _ := http.NewRequest(http.MethodGet, "https://reg.example:5000/v2/a/manifests/x", nil)
	if _, err := p.RoundTrip(req); errors.Is(err, errPlainHTTP) {
		t.Fatal("a manifest request was cut")
	}
}
