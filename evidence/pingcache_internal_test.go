package evidence

import (
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
