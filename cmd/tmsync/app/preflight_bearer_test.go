package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/tmsync"
)

// TestPreflightBearer: checkRegistry's token flow against a small token-auth registry,
// with the challenge and the token answer spelled as registries spell them.
func TestPreflightBearer(t *testing.T) {
	const pass = "pw-secret-9"
	big := `{` + strings.Repeat(" ", 200<<10) + `"token":"tok-1"}` // the token past the old 64 KiB read
	for _, tc := range []struct {
		name, challenge, answer, pass string
		want                          string // "": no problem
	}{
		{"plain", `Bearer realm="%s",service="reg"`, `{"token":"tok-1"}`, pass, ""},
		{"access_token", `Bearer realm="%s",service="reg"`, `{"access_token":"tok-1"}`, pass, ""},
		{"quoted comma in the realm", `Bearer realm="%s?tenant=a,b",service="reg"`, `{"token":"tok-1"}`, pass, ""},
		{"large answer", `Bearer realm="%s",service="reg"`, big, pass, ""},
		{"wrong password", `Bearer realm="%s",service="reg"`, `{"token":"tok-1"}`, "wrong",
			"target registry HOST refused the credentials of robot (401 Unauthorized)"},
		{"wrong password, several challenges", `Negotiate, Bearer realm="%s",service="reg"`, `{"token":"tok-1"}`, "wrong",
			"target registry HOST refused the credentials of robot (401 Unauthorized)"},
		{"no token", `Bearer realm="%s",service="reg"`, `{}`, pass, "target registry HOST: its token server HOST answered no token (neither token nor access_token is set)"},
		{"not JSON", `Bearer realm="%s",service="reg"`, `<html>`, pass, "target registry HOST: its token server HOST answered no token (the answer is not a JSON object)"},
		{"realm not a URL", `Bearer realm="token%.0s",service="reg"`, `{"token":"tok-1"}`, pass,
			`target registry HOST: token realm unusable: "token" is not an http(s) URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/token":
					u, p, _ := r.BasicAuth()
					q := r.URL.Query()
					if u != "robot" || p != pass || q.Get("scope") != "repository:tm:push,pull" || q.Get("service") != "reg" {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					if strings.Contains(tc.challenge, "tenant") && q.Get("tenant") != "a,b" {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					w.Write([]byte(tc.answer))
				case r.URL.Path == "/v2/" && r.Header.Get("Authorization") == "Bearer tok-1":
				default:
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(tc.challenge, srv.URL+"/token"))
					w.WriteHeader(http.StatusUnauthorized)
				}
			}))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			ps := &problems{}
			checkRegistry(context.Background(), ps, registryCheck{role: "target", host: host, insecure: true,
				user: "robot", pass: tc.pass, scope: "repository:tm:push,pull", hint: "HINT"})
			got := ""
			if err := ps.err(); err != nil {
				got = strings.ReplaceAll(err.Error(), host, "HOST")
			}
			want := ""
			if tc.want != "" {
				want = "preflight: " + tc.want + " (HINT)"
			}
			if got != want {
				t.Fatalf("problems %q\nwant %q", got, want)
			}
			if strings.Contains(got, pass) || strings.Contains(got, "tok-1") {
				t.Fatalf("a secret in the problem: %s", got)
			}
		})
	}
}

// TestPreflightNoUsableChallenge: a registry that offers no Basic or Bearer challenge
// (Negotiate only, or a Bearer without a realm) is not a problem the run stops for, but
// the operator is told that its credentials were not checked.
func TestPreflightNoUsableChallenge(t *testing.T) {
	for _, challenge := range []string{`Negotiate`, `Bearer service="reg"`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
		}))
		host := strings.TrimPrefix(srv.URL, "http://")
		ps := &problems{}
		checkRegistry(context.Background(), ps, registryCheck{role: "target", host: host, insecure: true,
			user: "robot", pass: "s3cret-pass", scope: "repository:tm:push,pull", hint: "HINT"})
		srv.Close()
		if err := ps.err(); err != nil {
			t.Errorf("%s: a problem: %v", challenge, err)
		}
		if len(ps.notes) != 1 || !strings.Contains(ps.notes[0], "credentials not checked") || strings.Contains(ps.notes[0], "s3cret-pass") {
			t.Errorf("%s: notes %q, want one saying the credentials were not checked", challenge, ps.notes)
		}
	}
}

// TestPreflightNoCredentials: a registry target that asks for credentials when none were
// found for it stops the run before anything is created (exit 2), instead of failing
// every image at its lookup; unless its token server gives an anonymous token. Where the
// check runs without credentials on purpose (needCreds false), a 401 says nothing.
func TestPreflightNoCredentials(t *testing.T) {
	const want = "preflight: target registry HOST asks for credentials and none were found for it (HINT)"
	for _, tc := range []struct {
		name, challenge string
		anonymous       int // the token server's status for an anonymous token
		needCreds       bool
		want            string
	}{
		{"basic", `Basic realm="reg"`, 0, true, want},
		{"basic, lower case", `basic realm="reg"`, 0, true, want},
		{"bearer, anonymous refused", `Bearer realm="%s",service="reg"`, http.StatusUnauthorized, true, want},
		{"bearer, anonymous forbidden", `Bearer realm="%s",service="reg"`, http.StatusForbidden, true, want},
		{"bearer, anonymous token", `Bearer realm="%s",service="reg"`, http.StatusOK, true, ""},
		{"bearer, token server down", `Bearer realm="%s",service="reg"`, http.StatusBadGateway, true,
			"preflight: target registry HOST: its token server HOST answered 502 Bad Gateway (HINT)"},
		{"open registry", "", 0, true, ""},
		{"basic, not needed", `Basic realm="reg"`, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/token":
					if _, _, ok := r.BasicAuth(); ok || r.URL.Query().Get("scope") != "repository:tm:push,pull" {
						w.WriteHeader(http.StatusBadRequest)
						return
					}
					w.WriteHeader(tc.anonymous)
					w.Write([]byte(`{"token":"anon"}`))
				case tc.challenge == "":
				default:
					c := tc.challenge
					if strings.Contains(c, "%s") {
						c = fmt.Sprintf(c, srv.URL+"/token")
					}
					w.Header().Set("WWW-Authenticate", c)
					w.WriteHeader(http.StatusUnauthorized)
				}
			}))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			ps := &problems{}
			checkRegistry(context.Background(), ps, registryCheck{role: "target", host: host, insecure: true,
				scope: "repository:tm:push,pull", hint: "HINT", needCreds: tc.needCreds})
			got := ""
			if err := ps.err(); err != nil {
				got = strings.ReplaceAll(err.Error(), host, "HOST")
			}
			if got != tc.want {
				t.Fatalf("problems %q\nwant %q", got, tc.want)
			}
		})
	}
}

// targetCredentials: nothing found is "none" only when the auth file holds nothing for
// the host; an identity token (a credential helper's, or docker's "<token>:" entry) is
// not replayed by the check and does not count as none, and neither does a helper that
// fails (the preflight cannot tell, so it does not stop the run).
func TestTargetCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("XDG_RUNTIME_DIR", dir)
	const host = "mirror.example:5000"
	for _, tc := range []struct {
		name, file, user, pass string
		none                   bool
	}{
		{"nothing", `{"auths":{}}`, "", "", true},
		{"another host", `{"auths":{"other.example":{"auth":"dTpw"}}}`, "", "", true},
		{"user and password", `{"auths":{"mirror.example:5000":{"auth":"dTpwdy1zZWNyZXQtMQ=="}}}`, "u", "pw-secret-1", false},
		{"identity token", `{"auths":{"mirror.example:5000":{"auth":"PHRva2VuPjo=","identitytoken":"id-tok-7"}}}`, "", "", false},
		{"a helper that fails", `{"credHelpers":{"mirror.example:5000":"tmsync-test-no-such-helper"}}`, "", "", false},
	} {
		p := filepath.Join(dir, "auth-"+strings.ReplaceAll(tc.name, " ", "-")+".json")
		if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		red := tmsync.NewRedactor()
		user, pass, none := targetCredentials(host, p, red)
		if user != tc.user || pass != tc.pass || none != tc.none {
			t.Errorf("%s: %q, %q, none %v; want %q, %q, none %v", tc.name, user, pass, none, tc.user, tc.pass, tc.none)
		}
		for _, secret := range []string{"pw-secret-1", "id-tok-7"} {
			if !strings.Contains(tc.file, "identitytoken") && secret == "id-tok-7" || tc.pass != secret && secret == "pw-secret-1" {
				continue // not in this case's file
			}
			if got := red.Clean("x " + secret + " x"); strings.Contains(got, secret) {
				t.Errorf("%s: the secret found is not redacted: %q", tc.name, got)
			}
		}
	}
}

// TestPreflightTokenServerFails: a target registry whose token server (its Bearer realm)
// fails otherwise than by refusing the credentials (a server error, a body that is not a
// token, no answer) is a problem that stops the run, as an unreachable registry is: one
// line naming the registry, the token server and what it answered, never the credentials
// or the token URL's query. With credentials or without any (needCreds), the same.
func TestPreflightTokenServerFails(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // its port now refuses connections
	for _, tc := range []struct {
		name   string
		status int    // the token server's answer; 0: the realm refuses connections
		body   string // with status 200
		want   string // "": no problem
	}{
		{"500", http.StatusInternalServerError, "", "its token server TOKEN answered 500 Internal Server Error"},
		{"503", http.StatusServiceUnavailable, "", "its token server TOKEN answered 503 Service Unavailable"},
		{"not JSON", http.StatusOK, "<html>oops</html>", "its token server TOKEN answered no token (the answer is not a JSON object)"},
		{"connection refused", 0, "", "its token server TOKEN unreachable: "},
		// Any other 4xx says nothing, as the registry's own answer does (loginAnswer).
		{"404", http.StatusNotFound, "", ""},
	} {
		for _, creds := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, credentials %v", tc.name, creds), func(t *testing.T) {
				tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.status != http.StatusOK {
						w.WriteHeader(tc.status)
						return
					}
					w.Write([]byte(tc.body))
				}))
				defer tokenSrv.Close()
				realm := tokenSrv.URL + "/token"
				if tc.status == 0 {
					realm = closedURL + "/token"
				}
				reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s",service="reg"`, realm))
					w.WriteHeader(http.StatusUnauthorized)
				}))
				defer reg.Close()
				host := strings.TrimPrefix(reg.URL, "http://")
				tokenHost := strings.TrimPrefix(strings.TrimSuffix(realm, "/token"), "http://")
				rc := registryCheck{role: "target", host: host, insecure: true, scope: "repository:tm:push,pull", hint: "HINT"}
				if creds {
					rc.user, rc.pass = "robot", "pw-secret-77"
				} else {
					rc.needCreds = true
				}
				ps := &problems{}
				start := time.Now()
				checkRegistry(context.Background(), ps, rc)
				if d := time.Since(start); d > preflightTimeout {
					t.Errorf("took %s", d)
				}
				got := ""
				if err := ps.err(); err != nil {
					got = strings.ReplaceAll(strings.ReplaceAll(err.Error(), tokenHost, "TOKEN"), host, "HOST")
				}
				if tc.want == "" {
					if got != "" {
						t.Fatalf("problems %q, want none", got)
					}
					return
				}
				prefix := "preflight: target registry HOST: " + tc.want
				if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, " (HINT)") || strings.Count(got, "\n") != 0 {
					t.Fatalf("problems %q\nwant one line %q... (HINT)", got, prefix)
				}
				for _, secret := range []string{"pw-secret-77", "robot", "scope=", "repository:tm"} {
					if strings.Contains(got, secret) {
						t.Errorf("%q in the problem: %s", secret, got)
					}
				}
			})
		}
	}
}
