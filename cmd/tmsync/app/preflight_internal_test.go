package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tmsync/tmsync/attest"
)

// TestPreflightRefusesDowngrade: the preflight's checks carry the vendor token and the
// target's password; a redirect from https to plain HTTP (Go would keep Authorization on
// the same host) is not followed, on any path and with any scheme spelling.
func TestPreflightRefusesDowngrade(t *testing.T) {
	var reached atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	defer plain.Close()
	target := strings.TrimPrefix(plain.URL, "http://")
	for _, loc := range []string{"http://" + target + "/v2/", "HTTP://" + target + "/v2/token", "http://" + strings.ToUpper(target) + "/x"} {
		tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		}))
		c := preflightHTTP()
		c.Transport.(*http.Transport).TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, tls.URL+"/v2/", nil)
		req.Header.Set("Authorization", "Bearer secret-token")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, attest.ErrInsecureRedirect) {
			t.Errorf("redirect to %s: err %v, want ErrInsecureRedirect", loc, err)
		}
		tls.Close()
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the plain HTTP server got %d requests", n)
	}
}

// TestPreflightAttestationRedirectOffMachine: the preflight sends the token to the
// attestation server; a plain-http test server on this machine that redirects elsewhere
// over plain http is not followed (the refusal comes before any connection), and the
// problem says a redirect was refused, once, not that the server is unreachable.
func TestPreflightAttestationRedirectOffMachine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.255.255.1/occ", http.StatusFound)
	}))
	defer srv.Close()
	ps := &problems{}
	checkAttestations(context.Background(), ps, srv.URL+"/occ", "secret-token-5f2a9c81")
	err := ps.err()
	if err == nil {
		t.Fatal("no problem")
	}
	msg := err.Error()
	if strings.Count(msg, "refusing a redirect") != 1 || strings.Contains(msg, "unreachable") || strings.Contains(msg, "secret-token") {
		t.Errorf("problem %q: want the refused redirect said once, not unreachable, no token", msg)
	}
}
