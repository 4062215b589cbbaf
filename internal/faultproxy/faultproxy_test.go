package faultproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const blobDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// backend answers like a registry would, enough for the proxy: blobs of blobSize bytes,
// "ok" elsewhere, and it echoes Host and Authorization back in headers.
func backend(t *testing.T, blobSize int) *httptest.Server {
	t.Helper()
	blob := bytes.Repeat([]byte("x"), blobSize)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Auth", r.Header.Get("Authorization"))
		if strings.Contains(r.URL.Path, "/blobs/sha256:") {
			w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				_, _ = w.Write(blob)
			}
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

// get requests path through p and returns the status and the error reading the body.
func get(t *testing.T, c *http.Client, method, url string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: got %.3f, want %.3f ± %.3f", what, got, want, tol)
	}
}

func TestErrorRate(t *testing.T) {
	p := Start(t, backend(t, 16).URL, Config{Seed: 1, ErrorRate: 0.1})
	c := newClient(t)
	const n = 2000
	byStatus := map[int]int{}
	for i := range n {
		status, _, err := get(t, c, "GET", fmt.Sprintf("%s/v2/app/manifests/tag-%d", p.URL, i%50))
		if err != nil {
			t.Fatal(err)
		}
		byStatus[status]++
	}
	errs := n - byStatus[200]
	within(t, "error share", float64(errs)/n, 0.1, 0.025)
	for _, s := range []int{500, 502, 503, 429} {
		within(t, fmt.Sprintf("share of %d among errors", s), float64(byStatus[s])/float64(errs), 0.25, 0.1)
	}
	st := p.Stats()
	if st.Requests != n || st.Forwarded != byStatus[200] || st.Faults() != errs || st.Errors[503] != byStatus[503] {
		t.Errorf("stats %+v disagree with what the client saw %v", st, byStatus)
	}
}

func TestCutRate(t *testing.T) {
	p := Start(t, backend(t, 4096).URL, Config{Seed: 2, CutRate: 0.3})
	c := newClient(t)
	const n = 1000
	cuts := 0
	for i := range n {
		status, body, err := get(t, c, "GET", p.URL+"/v2/app/blobs/"+blobDigest)
		switch {
		case status != 200:
			t.Fatalf("status %d", status)
		case err != nil:
			cuts++
		case len(body) != 4096:
			t.Fatalf("request %d: short body of %d bytes without an error", i, len(body))
		}
	}
	within(t, "cut share", float64(cuts)/n, 0.3, 0.05)
	if got := p.Stats().Cuts; got != cuts {
		t.Errorf("Stats().Cuts = %d, client saw %d", got, cuts)
	}
}

// fates returns the status of each request of a fixed sequence through a new proxy.
func fates(t *testing.T, target string, cfg Config) []int {
	p := Start(t, target, cfg)
	c := newClient(t)
	var out []int
	for i := range 300 {
		status, _, _ := get(t, c, "GET", fmt.Sprintf("%s/v2/app/manifests/tag-%d", p.URL, i%7))
		out = append(out, status)
	}
	return out
}

func TestSameSeedSameFates(t *testing.T) {
	target := backend(t, 16).URL
	for _, sequential := range []bool{false, true} {
		t.Run(fmt.Sprintf("sequential=%v", sequential), func(t *testing.T) {
			cfg := Config{Seed: 42, ErrorRate: 0.3, Sequential: sequential}
			a, b := fates(t, target, cfg), fates(t, target, cfg)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("same seed, different fates:\n%v\n%v", a, b)
			}
			cfg.Seed = 43
			if c := fates(t, target, cfg); fmt.Sprint(a) == fmt.Sprint(c) {
				t.Errorf("seeds 42 and 43 gave the same fates")
			}
		})
	}
}

// Keyed fates do not depend on the order in which concurrent requests arrive.
func TestKeyedFatesIgnoreArrivalOrder(t *testing.T) {
	target := backend(t, 16).URL
	cfg := Config{Seed: 7, ErrorRate: 0.3}
	paths := make([]string, 200)
	for i := range paths {
		paths[i] = fmt.Sprintf("/v2/app/manifests/tag-%d", i)
	}
	run := func(concurrent bool) map[string]int {
		p := Start(t, target, cfg)
		c := newClient(t)
		out := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := len(paths) - 1; i >= 0; i-- { // reverse order, too
			do := func() {
				status, _, _ := get(t, c, "GET", p.URL+paths[i])
				mu.Lock()
				out[paths[i]] = status
				mu.Unlock()
			}
			if concurrent {
				wg.Go(do)
			} else {
				do()
			}
		}
		wg.Wait()
		return out
	}
	a, b := run(false), run(true)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("fates depend on arrival order:\n%v\n%v", a, b)
	}
}

func TestRetryAfter(t *testing.T) {
	target := backend(t, 16).URL
	for _, tc := range []struct {
		status     int
		retryAfter time.Duration
		want       string
	}{
		{429, 0, "1"},
		{429, 2500 * time.Millisecond, "2"},
		{429, 100 * time.Millisecond, "1"},
		{503, 3 * time.Second, "3"},
		{500, 3 * time.Second, ""},
	} {
		t.Run(fmt.Sprint(tc.status, tc.retryAfter), func(t *testing.T) {
			p := Start(t, target, Config{ErrorRate: 1, Statuses: []int{tc.status}, RetryAfter: tc.retryAfter})
			res, err := http.Get(p.URL + "/v2/app/manifests/1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status || res.Header.Get("Retry-After") != tc.want {
				t.Errorf("got %d with Retry-After %q, want %d with %q", res.StatusCode, res.Header.Get("Retry-After"), tc.status, tc.want)
			}
			if !bytes.Contains(body, []byte(`"errors"`)) {
				t.Errorf("body %q is not a registry error", body)
			}
		})
	}
}

func TestCutGivesUnexpectedEOF(t *testing.T) {
	const size = 200_000
	p := Start(t, backend(t, size).URL, Config{Seed: 3, CutRate: 1})
	c := newClient(t)
	status, body, err := get(t, c, "GET", p.URL+"/v2/app/blobs/"+blobDigest)
	if status != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) == 0 || len(body) >= size {
		t.Fatalf("got %d, %d bytes, %v; want 200, a part of %d bytes, unexpected EOF", status, len(body), err, size)
	}
	f := p.Faults()
	if len(f) != 1 || f[0].Kind != KindCut || f[0].Sent != int64(len(body)) || f[0].Size != size || f[0].Attempt != 1 {
		t.Errorf("Faults() = %+v; client got %d bytes", f, len(body))
	}
	// Not blob downloads: never cut.
	for _, m := range []string{"HEAD", "GET"} {
		path := "/v2/app/blobs/" + blobDigest
		if m == "GET" {
			path = "/v2/app/manifests/latest"
		}
		if _, _, err := get(t, c, m, p.URL+path); err != nil {
			t.Errorf("%s %s: %v", m, path, err)
		}
	}
	if st := p.Stats(); st.Cuts != 1 || st.Forwarded != 3 {
		t.Errorf("stats %+v, want 1 cut of 3 forwarded", st)
	}
}

func TestLatencyAndMatch(t *testing.T) {
	// Long enough that an unmatched request on a loaded machine still answers well
	// within it: the test tells "delayed" from "not delayed", not how fast loopback is.
	const latency = time.Second
	p := Start(t, backend(t, 16).URL, Config{
		ErrorRate: 1,
		Latency:   latency,
		Match:     ExceptPing,
	})
	c := newClient(t)
	start := time.Now()
	if status, _, _ := get(t, c, "GET", p.URL+"/v2/"); status != 200 {
		t.Errorf("/v2/ is not matched, yet got %d", status)
	}
	if d := time.Since(start); d >= latency {
		t.Errorf("/v2/ is not matched, yet took %v", d)
	}
	start = time.Now()
	if status, _, _ := get(t, c, "GET", p.URL+"/v2/app/tags/list"); status < 500 && status != 429 {
		t.Errorf("matched request got %d, want an injected error", status)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("matched request took %v, want at least %v", d, latency)
	}
}

func TestSetConfigAtRunTime(t *testing.T) {
	p := Start(t, backend(t, 16).URL, Config{ErrorRate: 1, MaxFaults: 3})
	c := newClient(t)
	var got []int
	for range 5 {
		status, _, _ := get(t, c, "GET", p.URL+"/v2/app/manifests/1")
		got = append(got, status)
	}
	if got[2] == 200 || got[3] != 200 || got[4] != 200 {
		t.Errorf("MaxFaults 3: got %v, want 3 errors then 200s", got)
	}
	if err := p.SetConfig(Config{ErrorRate: 2}); !errors.Is(err, ErrConfig) {
		t.Errorf("ErrorRate 2: got %v, want ErrConfig", err)
	}
	if err := p.SetConfig(Config{ErrorRate: 1, Statuses: []int{502}}); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(t, c, "GET", p.URL+"/v2/app/manifests/1"); status != 502 {
		t.Errorf("after SetConfig to 502s, got %d", status)
	}
	// Concurrent requests while the config changes: the race detector checks the rest.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				get(t, c, "GET", p.URL+"/v2/app/manifests/1")
			}
		})
	}
	_ = p.SetConfig(Config{})
	wg.Wait()
	if status, _, _ := get(t, c, "GET", p.URL+"/v2/app/manifests/1"); status != 200 {
		t.Errorf("faults off, got %d", status)
	}
}

func TestHostAndAuthorizationPassThrough(t *testing.T) {
	p := Start(t, backend(t, 16).URL, Config{})
	req, _ := http.NewRequest("GET", p.URL+"/v2/", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if h := res.Header.Get("X-Seen-Host"); h != p.Host {
		t.Errorf("target saw Host %q, want the proxy's %q", h, p.Host)
	}
	if a := res.Header.Get("X-Seen-Auth"); a != "Bearer s3cret" {
		t.Errorf("target saw Authorization %q", a)
	}
}

func TestRequestKey(t *testing.T) {
	for _, tc := range []struct{ method, url, want string }{
		{"PATCH", "/v2/a/b/blobs/uploads/3f1c-uuid?_state=xyz", "PATCH /v2/a/b/blobs/uploads/*"},
		{"PUT", "/v2/a/blobs/uploads/other-uuid?_state=1&digest=sha256:ab", "PUT /v2/a/blobs/uploads/*?digest=sha256:ab"},
		{"POST", "/v2/a/blobs/uploads/", "POST /v2/a/blobs/uploads/"},
		{"GET", "/v2/a/manifests/v1?x=1", "GET /v2/a/manifests/v1"},
	} {
		u, _ := url.Parse(tc.url)
		if got := requestKey(&http.Request{Method: tc.method, URL: u}); got != tc.want {
			t.Errorf("requestKey(%s %s) = %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	for _, cfg := range []Config{{CutRate: -0.1}, {Statuses: []int{200}}, {Latency: -1}, {MaxFaults: -1}, {ErrorRate: 0.5, Statuses: []int{}},
		{ResetRate: 1.5}, {StallRate: 0.1}, {StallRate: -1, Stall: time.Second}, {Stall: -time.Second}} {
		if p, err := New(u, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): got %v, want ErrConfig", cfg, err)
			if p != nil {
				p.Close()
			}
		}
	}
}

// A cut that cannot happen (the target answered 404) does not use up MaxFaults.
func TestUnusedCutIsGivenBack(t *testing.T) {
	var served atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write(bytes.Repeat([]byte("y"), 1000))
	}))
	defer target.Close()
	p := Start(t, target.URL, Config{CutRate: 1, MaxFaults: 1})
	c := newClient(t)
	if status, _, err := get(t, c, "GET", p.URL+"/v2/app/blobs/"+blobDigest); status != 404 || err != nil {
		t.Fatalf("got %d, %v; want a plain 404", status, err)
	}
	if _, _, err := get(t, c, "GET", p.URL+"/v2/app/blobs/"+blobDigest); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("second GET: %v, want the cut", err)
	}
	if _, body, err := get(t, c, "GET", p.URL+"/v2/app/blobs/"+blobDigest); err != nil || len(body) != 1000 {
		t.Fatalf("third GET after MaxFaults: %d bytes, %v", len(body), err)
	}
}

func TestIsBlobDownload(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v2/a/b/blobs/" + blobDigest, true},
		{"HEAD", "/v2/a/b/blobs/" + blobDigest, false},
		{"GET", "/v2/a/b/manifests/" + blobDigest, false},
		{"GET", "/v2/a/b/blobs/uploads/", false},
	} {
		u, _ := url.Parse(tc.path)
		if got := IsBlobDownload(&http.Request{Method: tc.method, URL: u}); got != tc.want {
			t.Errorf("IsBlobDownload(%s %s) = %v", tc.method, tc.path, got)
		}
	}
}
