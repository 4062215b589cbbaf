package regauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/attest"
)

func TestRegauthTokenURL(t *testing.T) {
	for _, tc := range []struct {
		r    TokenRequest
		want string // "" : ErrRealm
	}{
		{TokenRequest{Realm: "https://auth.example/token", Service: "reg", Scope: "repository:a/b:pull"},
			"https://auth.example/token?scope=repository%3Aa%2Fb%3Apull&service=reg"},
		// The realm's own query is kept; its scope is replaced by ours, never doubled.
		{TokenRequest{Realm: "https://auth.example/token?account=bank&scope=theirs", Scope: "repository:a:pull"},
			"https://auth.example/token?account=bank&scope=repository%3Aa%3Apull"},
		// No scope of ours: the realm's stays.
		{TokenRequest{Realm: "https://auth.example/token?scope=theirs", Service: "s"}, "https://auth.example/token?scope=theirs&service=s"},
		{TokenRequest{Realm: "https://auth.example/token#frag"}, "https://auth.example/token"},
		{TokenRequest{Realm: "http://127.0.0.1:5000/token", PlainHTTP: true}, "http://127.0.0.1:5000/token"},
		{TokenRequest{Realm: "http://auth.example/token"}, ""}, // plain HTTP from an https registry
		{TokenRequest{Realm: "HTTP://auth.example/token"}, ""},
		{TokenRequest{Realm: "token"}, ""},
		{TokenRequest{Realm: "/token"}, ""},
		{TokenRequest{Realm: "ftp://auth.example/token"}, ""},
		{TokenRequest{Realm: "https:///token"}, ""},
		{TokenRequest{Realm: "https://auth example/token"}, ""},
		{TokenRequest{Realm: ""}, ""},
	} {
		u, err := tc.r.URL()
		switch {
		case tc.want == "" && !errors.Is(err, ErrRealm):
			t.Errorf("realm %q: %v %v, want ErrRealm", tc.r.Realm, u, err)
		case tc.want != "" && (err != nil || u.String() != tc.want):
			t.Errorf("realm %q: %v %v, want %s", tc.r.Realm, u, err, tc.want)
		}
	}
}

// tokenServer answers /token with answer when the basic auth is robot:pw, 401 otherwise.
func tokenServer(t *testing.T, answer string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "robot" || p != "pw-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"details":"pw-secret"}`))
			return
		}
		w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRegauthFetchToken(t *testing.T) {
	huge := `{"token":"` + strings.Repeat("a", MaxTokenAnswer) + `"}`
	for _, tc := range []struct {
		name, answer, want string // want "": ErrNoToken
	}{
		{"token", `{"token":"tok-1","access_token":"tok-2"}`, "tok-1"},
		{"access_token only", `{"access_token":"tok-2","expires_in":60}`, "tok-2"},
		{"empty token, access_token", `{"token":"","access_token":"tok-2"}`, "tok-2"},
		{"just under the limit", `{"token":"t"}` + strings.Repeat(" ", MaxTokenAnswer-13), "t"},
		{"empty answer", ``, ""},
		{"empty object", `{}`, ""},
		{"not JSON", `<html>token: tok-1</html>`, ""},
		{"JSON array", `["tok-1"]`, ""},
		{"token of another type", `{"token":12}`, ""},
		{"trailing garbage", `{"token":"tok-1"} x`, ""},
		{"huge", huge, ""},
		{"one byte over", `{"token":"t"}` + strings.Repeat(" ", MaxTokenAnswer-12), ""},
		{"token with a newline", `{"token":"tok\nX-Evil: 1"}`, ""},
		{"token with a space", `{"token":"tok 1"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tokenServer(t, tc.answer)
			tok, err := FetchToken(context.Background(), srv.Client(), TokenRequest{Realm: srv.URL + "/token", User: "robot", Pass: "pw-secret", PlainHTTP: true})
			switch {
			case tc.want == "" && !errors.Is(err, ErrNoToken):
				t.Fatalf("token %.20q, err %v; want ErrNoToken", tok, err)
			case tc.want != "" && (err != nil || tok != tc.want):
				t.Fatalf("token %q, err %v; want %q", tok, err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "tok-") || strings.Contains(err.Error(), "X-Evil") || strings.Contains(err.Error(), "tok 1") || strings.Contains(err.Error(), "pw-secret")) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
	srv := tokenServer(t, `{"token":"tok-1"}`)
	_, err := FetchToken(context.Background(), srv.Client(), TokenRequest{Realm: srv.URL + "/token", User: "robot", Pass: "wrong", PlainHTTP: true})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v, want a StatusError 401 without the password", err)
	}
	// Without PlainHTTP an http realm is not asked at all.
	if _, err := FetchToken(context.Background(), srv.Client(), TokenRequest{Realm: srv.URL + "/token", User: "robot", Pass: "pw-secret"}); !errors.Is(err, ErrRealm) {
		t.Fatalf("http realm from an https registry: %v, want ErrRealm", err)
	}
}

// TestRegauthTokenRefusesDowngrade: the token request carries the password; whatever
// the caller's client allows, a redirect from https to http is not followed.
func TestRegauthTokenRefusesDowngrade(t *testing.T) {
	var leaked int
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked++
		}
		w.Write([]byte(`{"token":"t"}`))
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/token", http.StatusTemporaryRedirect)
	}))
	defer tls.Close()
	hc := tls.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return nil } // a lax caller
	_, err := FetchToken(context.Background(), hc, TokenRequest{Realm: tls.URL + "/token", User: "u", Pass: "pw-secret"})
	if !errors.Is(err, attest.ErrInsecureRedirect) || leaked != 0 {
		t.Fatalf("err %v, %d requests with credentials to plain HTTP; want ErrInsecureRedirect and none", err, leaked)
	}
}
