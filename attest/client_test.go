package attest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

const token = "s3cr3t-vendor-token-do-not-print"

func mustClient(t testing.TB, addr string, opts ...attest.ClientOption) *attest.Client {
	t.Helper()
	c, err := attest.NewClient(addr, append([]attest.ClientOption{attest.WithToken(token), attest.WithRetry(3, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func release(t testing.TB, s *attesttest.Signer, n int) ([]attest.Subject, []json.RawMessage) {
	t.Helper()
	var subs []attest.Subject
	var occs []json.RawMessage
	for i := range n {
		sub := attest.Subject{Repository: fmt.Sprintf("docker.external.thoughtmachine.io/vault/img%03d", i), Digest: digest.FromString(fmt.Sprint(i))}
		raw, err := s.Occurrence(sub)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
		occs = append(occs, raw)
	}
	return subs, occs
}

func TestClientBulk(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	subs, occs := release(t, vendor, 250)
	srv := attesttest.NewServer(token, occs...)
	defer srv.Close()
	c := mustClient(t, srv.URL, attest.WithPageSize(100))
	all, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 || c.Requests() != 3 || srv.Requests() != 3 {
		t.Fatalf("got %d occurrences in %d requests (server saw %d)", len(all), c.Requests(), srv.Requests())
	}
	x := attest.NewIndex(all)
	v := mustVerifier(t, mustKeyring(t, vendor))
	for _, s := range subs {
		if _, err := v.Verify(s, x.For(s)); err != nil {
			t.Fatal(err)
		}
	}
	// A release of hundreds of images costs one request at the default page size.
	c2 := mustClient(t, srv.URL)
	if _, err := c2.List(context.Background()); err != nil || c2.Requests() != 1 {
		t.Fatalf("default page size: %d requests, %v", c2.Requests(), err)
	}
}

func TestClientForImage(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	subs, occs := release(t, vendor, 5)
	srv := attesttest.NewServer(token, occs...)
	defer srv.Close()
	c := mustClient(t, srv.URL)
	got, err := c.ForImage(context.Background(), subs[2])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ResourceURI != subs[2].ResourceURL() {
		t.Fatalf("got %+v", got)
	}
}

// Attack: a server that ignores the filter and returns other images' (valid) occurrences.
func TestClientServerIgnoresFilter(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	subs, occs := release(t, vendor, 5)
	srv := attesttest.NewServer(token, occs...)
	defer srv.Close()
	srv.IgnoreFilter(true)
	c := mustClient(t, srv.URL)
	v := mustVerifier(t, mustKeyring(t, vendor))
	got, err := c.ForImage(context.Background(), subs[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ResourceURI != subs[1].ResourceURL() {
		t.Fatalf("client kept other images' occurrences: %d", len(got))
	}
	// An image with no occurrence of its own is not vouched for by the others.
	none := attest.Subject{Repository: subs[0].Repository, Digest: digest.FromString("unknown")}
	got, err = c.ForImage(context.Background(), none)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %d, %v", len(got), err)
	}
	all, _ := c.List(context.Background())
	if _, err := v.Verify(none, all); !errors.Is(err, attest.ErrNoAttestation) {
		t.Fatalf("verify with all occurrences: %v", err)
	}
}

// Attack: the page boundary falls between two occurrences of one image (a bad one on page
// 1, the good one on page 2): both pages must be read.
func TestClientPageBoundary(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	other := mustSigner(t, "other")
	bad, _ := other.Occurrence(subA)
	good, _ := vendor.Occurrence(subA)
	_, filler := release(t, vendor, 3)
	srv := attesttest.NewServer(token, filler[0], bad, good, filler[1], filler[2])
	defer srv.Close()
	v := mustVerifier(t, mustKeyring(t, vendor))
	for _, mode := range []string{"bulk", "per-image"} {
		t.Run(mode, func(t *testing.T) {
			c := mustClient(t, srv.URL, attest.WithPageSize(2))
			var occs []attest.Occurrence
			var err error
			if mode == "bulk" {
				var all []attest.Occurrence
				all, err = c.List(context.Background())
				occs = attest.NewIndex(all).For(subA)
			} else {
				srv.SetMaxPageSize(1)
				defer srv.SetMaxPageSize(1000)
				occs, err = c.ForImage(context.Background(), subA)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(occs) != 2 {
				t.Fatalf("got %d occurrences of the image, want 2", len(occs))
			}
			if _, err := v.Verify(subA, occs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	srv := attesttest.NewServer(token)
	defer srv.Close()
	ctx := context.Background()
	cases := []struct {
		name     string
		addr     string
		tok      string
		fail     []attesttest.Failure
		want     error
		requests int
	}{
		{"401 wrong token", srv.URL, "wrong-" + token, nil, attest.ErrUnauthorized, 1},
		{"403", srv.URL, token, []attesttest.Failure{{Status: 403, Body: "token " + token + " lacks permission"}}, attest.ErrUnauthorized, 1},
		{"404 wrong address", strings.TrimSuffix(srv.URL, "/occurrences") + "/occurences", token, nil, attest.ErrNotFound, 1},
		{"400", srv.URL, token, []attesttest.Failure{{Status: 400}}, attest.ErrUnexpectedStatus, 1},
		{"5xx after retries", srv.URL, token, []attesttest.Failure{{Status: 500}, {Status: 502}, {Status: 503}}, attest.ErrUnexpectedStatus, 3},
		{"429 then ok", srv.URL, token, []attesttest.Failure{{Status: 429, RetryAfter: "0"}}, nil, 2},
		{"503 then ok", srv.URL, token, []attesttest.Failure{{Status: 503}, {Status: 504}}, nil, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.FailNext(tc.fail...)
			c, err := attest.NewClient(tc.addr, attest.WithToken(tc.tok), attest.WithRetry(3, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.List(ctx)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var ue *attest.UnavailableError
				if !errors.As(err, &ue) || !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want UnavailableError wrapping %v", err, tc.want)
				}
				if errors.Is(err, attest.ErrRejected) {
					t.Error("unavailable error matches ErrRejected")
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("token in error: %v", err)
				}
			}
			if c.Requests() != tc.requests {
				t.Errorf("requests = %d, want %d", c.Requests(), tc.requests)
			}
		})
	}
}

func TestClientRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		fmt.Fprint(w, `{"occurrences":[]}`)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := mustClient(t, srv.URL, attest.WithRetry(2, time.Millisecond))
	if _, err := c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := times[1].Sub(times[0]); d < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 not honoured: retried after %s", d)
	}
}

func TestClientRetryAfterCappedAndCancellable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(503)
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.List(ctx)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
}

func TestClientNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL + "/occurrences"
	srv.Close()
	c := mustClient(t, addr)
	_, err := c.List(context.Background())
	var ue *attest.UnavailableError
	if !errors.As(err, &ue) || c.Requests() != 3 {
		t.Fatalf("error = %v after %d requests", err, c.Requests())
	}
}

func TestClientBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"not json":       `<html>`,
		"repeated token": `{"occurrences":[],"nextPageToken":"same"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
			defer srv.Close()
			_, err := mustClient(t, srv.URL).List(context.Background())
			if !errors.Is(err, attest.ErrBadResponse) {
				t.Fatalf("error = %v", err)
			}
		})
	}
	// A malformed occurrence is skipped, the others are kept.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"occurrences":[{"name":"x"},{"name":"y","resource":{"uri":"https://h/r@`+string(dgA)+`"}}]}`)
	}))
	defer srv.Close()
	got, err := mustClient(t, srv.URL).List(context.Background())
	if err != nil || len(got) != 1 || got[0].Name != "y" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// The token goes into the Authorization header and nowhere else.
func TestClientTokenNeverShown(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.WriteHeader(500)
		fmt.Fprintf(w, "echo: %s", r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL, attest.WithLogger(log))
	_, err := c.List(context.Background())
	if gotAuth != "Bearer "+token {
		t.Errorf("Authorization = %q", gotAuth)
	}
	log.Info("client", "c", c)
	for what, s := range map[string]string{
		"error": err.Error(), "String": c.String(), "fmt %v": fmt.Sprintf("%v %+v", c, c), "logs": logs.String(),
	} {
		if strings.Contains(s, token) {
			t.Errorf("token in %s: %s", what, s)
		}
	}
	if _, err := attest.NewClient("https://user:" + token + "@example.com/x"); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("credentials in URL: %v", err)
	}
}

func TestClientOptions(t *testing.T) {
	for _, opt := range []attest.ClientOption{attest.WithPageSize(0), attest.WithPageSize(1001), attest.WithRetry(0, 0), attest.WithHTTPClient(nil), attest.WithToken("a\nb")} {
		if _, err := attest.NewClient("https://example.com/o", opt); err == nil {
			t.Error("bad option accepted")
		}
	}
	for _, addr := range []string{"", "ftp://example.com/x", "example.com/x", "://"} {
		if _, err := attest.NewClient(addr); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
}

// TestCheckAddress: the token goes to the attestation server over https, or over plain
// http to this machine only; NewClient refuses other plain http with a token, not
// without one.
func TestCheckAddress(t *testing.T) {
	for _, ok := range []string{
		"https://attestations.external.thoughtmachine.io/v1beta1/projects/p/notes/n/occurrences",
		"https://10.0.0.1:8443/occ", "http://127.0.0.1:8080/occ", "http://127.9.9.9/occ", "http://localhost/occ",
		"http://LocalHost.:1/occ", "http://[::1]:1/occ", "http://[::ffff:127.0.0.1]:1/occ",
	} {
		if err := attest.CheckAddress(ok); err != nil {
			t.Errorf("CheckAddress(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"http://attestations.external.thoughtmachine.io/occ", "http://10.0.0.1/occ", "http://0.0.0.0/occ",
		"http://127.1/occ", "http://localhost.example/occ", "http://[::2]/occ", "HTTP://attestations.example/occ",
		"ftp://attestations.example/occ", "https://u:p@attestations.example/occ", "https:///occ", "occ",
	} {
		if err := attest.CheckAddress(bad); err == nil {
			t.Errorf("CheckAddress(%q): no error", bad)
		}
	}
	if _, err := attest.NewClient("http://attestations.example/occ", attest.WithToken("tm-token-1234")); err == nil || !strings.Contains(err.Error(), "clear text") {
		t.Errorf("NewClient over plain http with a token: %v", err)
	}
	if _, err := attest.NewClient("http://attestations.example/occ"); err != nil {
		t.Errorf("NewClient over plain http without a token: %v", err)
	}
}

// TestRedirectOffMachineRefused: a plain-http attestation server on this machine (a test
// server, the one plain http CheckAddress allows) redirecting to plain http elsewhere is
// not followed: Go would keep the Authorization header on a redirect to a subdomain
// (localhost to x.localhost, which DNS resolves), and the token would cross the network
// in clear text. The preflight's policy, RefuseInsecureRedirect, refuses it the same way.
func TestRedirectOffMachineRefused(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Host+" "+r.Header.Get("Authorization"))
		http.Redirect(w, r, "http://attacker.localhost:1/occ", http.StatusFound)
	}))
	defer srv.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	c, err := attest.NewClient("http://localhost:"+port+"/occ", attest.WithToken("tm-token-5f2a9c81"), attest.WithRetry(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background())
	if !errors.Is(err, attest.ErrInsecureRedirect) {
		t.Errorf("List after a redirect off this machine: %v, want ErrInsecureRedirect", err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://attacker.localhost:1/occ", nil)
	via := []*http.Request{httptest.NewRequest(http.MethodGet, "http://localhost:"+port+"/occ", nil)}
	if err := attest.RefuseInsecureRedirect(req, via); !errors.Is(err, attest.ErrInsecureRedirect) {
		t.Errorf("RefuseInsecureRedirect: %v", err)
	}
	for _, ok := range []string{"http://127.0.0.1:2/occ", "https://attestations.example/occ"} {
		if err := attest.RefuseInsecureRedirect(httptest.NewRequest(http.MethodGet, ok, nil), via); err != nil {
			t.Errorf("RefuseInsecureRedirect to %s: %v", ok, err)
		}
	}
	if len(got) != 1 {
		t.Errorf("requests: %v, want the first only", got)
	}
}
