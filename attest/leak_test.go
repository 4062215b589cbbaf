package attest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

// Class 4: an https endpoint redirecting to http never gets the token sent there.
func TestClientNoHTTPSDowngrade(t *testing.T) {
	var sawToken, hits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), token) || strings.Contains(r.URL.String(), token) {
			sawToken.Add(1)
		}
		fmt.Fprint(w, `{"occurrences":[]}`)
	}))
	defer plain.Close()
	plainURL, _ := url.Parse(plain.URL)
	for _, tc := range []struct {
		name   string
		status int
		target func(r *http.Request) string
	}{
		{"302 to http same host", http.StatusFound, func(r *http.Request) string { return plain.URL + r.URL.RequestURI() }},
		{"307 to http", http.StatusTemporaryRedirect, func(r *http.Request) string { return plain.URL + "/o" }},
		{"308 to http by name", http.StatusPermanentRedirect, func(r *http.Request) string { return "http://localhost:" + plainURL.Port() + "/o" }},
		{"301 to http upper case", http.StatusMovedPermanently, func(r *http.Request) string { return "HTTP://127.0.0.1:" + plainURL.Port() + "/o" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sawToken.Store(0)
			hits.Store(0)
			tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.target(r), tc.status)
			}))
			defer tls.Close()
			c := mustClient(t, tls.URL+"/o", attest.WithHTTPClient(tls.Client()))
			_, err := c.List(context.Background())
			if !errors.Is(err, attest.ErrInsecureRedirect) {
				t.Errorf("error = %v, want ErrInsecureRedirect", err)
			}
			if sawToken.Load() != 0 || hits.Load() != 0 {
				t.Errorf("http server got %d requests, %d with the token", hits.Load(), sawToken.Load())
			}
			if c.Requests() != 1 {
				t.Errorf("%d requests: a refused redirect is not retried", c.Requests())
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("token in error: %v", err)
			}
		})
	}
	// https to https (same server) is still followed, and the caller's client is unchanged.
	var final atomic.Int64
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			final.Add(1)
			fmt.Fprint(w, `{"occurrences":[]}`)
			return
		}
		http.Redirect(w, r, "/moved", http.StatusFound)
	}))
	defer tls.Close()
	hc := tls.Client()
	c := mustClient(t, tls.URL+"/o", attest.WithHTTPClient(hc))
	if _, err := c.List(context.Background()); err != nil || final.Load() != 1 {
		t.Errorf("https redirect: %v", err)
	}
	if hc.CheckRedirect != nil {
		t.Error("the caller's http.Client was modified")
	}
}

// Class 4: a server echoing the Authorization header, in any encoding, in its error body.
func TestClientEchoedTokenRedacted(t *testing.T) {
	echoes := map[string]func(auth string) string{
		"raw":             func(a string) string { return "you sent: " + a },
		"query escaped":   func(a string) string { return "auth=" + url.QueryEscape(a) },
		"path escaped":    func(a string) string { return "/x/" + url.PathEscape(a) },
		"base64 header":   func(a string) string { return base64.StdEncoding.EncodeToString([]byte(a)) },
		"basic user:tok":  func(a string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+token)) },
		"basic u:tok url": func(a string) string { return base64.URLEncoding.EncodeToString([]byte("ab:" + token)) },
		"basic x:tok raw": func(a string) string { return base64.RawStdEncoding.EncodeToString([]byte("x:" + token)) },
		"json":            func(a string) string { return `{"error":{"message":"bad header ` + a + `"}}` },
		"at byte 199":     func(a string) string { return strings.Repeat("x", 195) + a },
	}
	for name, echo := range echoes {
		for _, status := range []int{400, 401, 403, 404, 500} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				fmt.Fprint(w, echo(r.Header.Get("Authorization")))
			}))
			_, err := mustClient(t, srv.URL).List(context.Background())
			srv.Close()
			if err == nil {
				t.Fatalf("%s %d: no error", name, status)
			}
			if leaks(err.Error()) {
				t.Errorf("%s %d: token in error: %v", name, status, err)
			}
		}
	}
}

// leaks reports whether s holds the token in any form a test server echoes.
func leaks(s string) bool {
	if strings.Contains(s, token) || strings.Contains(s, url.QueryEscape(token)) || strings.Contains(s, token[4:20]) {
		return true
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for k := 0; k < 3; k++ {
			b := enc.EncodeToString(append(make([]byte, k), token...))
			// The middle of the encoding depends on the token only.
			if strings.Contains(s, b[8:len(b)-8]) {
				return true
			}
		}
	}
	return false
}

func TestRedact(t *testing.T) {
	const secret = "p@ss w/rd+tok=en"
	for _, s := range []string{
		secret, url.QueryEscape(secret), url.PathEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte("u:" + secret)),
		base64.StdEncoding.EncodeToString([]byte("us:" + secret + "!")),
		base64.RawURLEncoding.EncodeToString([]byte("user:" + secret)),
	} {
		got := attest.Redact("before "+s+" after", secret)
		if !strings.Contains(got, "REDACTED") || strings.Contains(got, s) || strings.Contains(got, secret) {
			t.Errorf("Redact(%q) = %q", s, got)
		}
	}
	if got := attest.Redact("nothing here", secret); got != "nothing here" {
		t.Errorf("changed: %q", got)
	}
	if got := attest.Redact("x", ""); got != "x" {
		t.Errorf("empty secret: %q", got)
	}
}

// Class 6: remote text with newlines and escape sequences never reaches an error verbatim.
func TestRemoteTextEscaped(t *testing.T) {
	const forged = "\nINFO: DONE\x1b[2J\r\u202e"
	check := func(t *testing.T, what, s string) {
		t.Helper()
		for _, bad := range []string{"\n", "\r", "\x1b", "\u202e"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s holds %q: %q", what, bad, s)
			}
		}
		if !strings.Contains(s, `\nINFO: DONE\x1b[2J`) {
			t.Errorf("%s lost the text: %q", what, s)
		}
	}
	// Error bodies and status lines, every status class.
	for _, status := range []int{400, 401, 404, 503} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, "oops"+forged)
		}))
		_, err := mustClient(t, srv.URL).List(context.Background())
		srv.Close()
		check(t, fmt.Sprintf("error for %d", status), err.Error())
	}
	// Occurrence names (and resource URIs) in rejections and in the verification.
	vendor := mustSigner(t, "vendor")
	other := mustSigner(t, "other")
	v := mustVerifier(t, mustKeyring(t, vendor))
	bad := mustOcc(t, other, subA, attesttest.Name("projects/p/occurrences/x"+forged))
	_, err := v.Verify(subA, []attest.Occurrence{bad})
	var re *attest.RejectedError
	if !errors.As(err, &re) {
		t.Fatal(err)
	}
	check(t, "rejection", err.Error())
	check(t, "Reason.Occurrence", re.Reasons[0].Occurrence)
	check(t, "Reason.String", re.Reasons[0].String())
	good := mustOcc(t, vendor, subA, attesttest.Name("projects/p/occurrences/y"+forged), attesttest.Creator("ci"+forged))
	ver, err := v.Verify(subA, []attest.Occurrence{good})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "Verification.Occurrence", ver.Occurrence)
	check(t, "Verification.Creator", ver.Creator)
	// A listing whose page token cannot be read.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"occurrences":[],"nextPageToken":"a"}`)
	}))
	defer srv.Close()
	if _, err := mustClient(t, srv.URL).List(context.Background()); err == nil || strings.ContainsAny(err.Error(), "\n\x1b") {
		t.Errorf("repeated token: %v", err)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain text / ok": "plain text / ok",
		"a\nb":            `a\nb`,
		"\x1b[2J":         `\x1b[2J`,
		"tab\there":       `tab\there`,
		"bidi\u202eevil":  `bidi\u202eevil`,
		"zw\u200bsp":      `zw\u200bsp`,
		"bad\xffutf8":     `bad\xffutf8`,
		"c1\u0085nel":     `c1\u0085nel`,
		"del\x7f":         `del\x7f`,
		"ünïcode ok":      "ünïcode ok",
		"line\u2028sep":   `line\u2028sep`,
		`back\slash`:      `back\slash`,
	} {
		if got := attest.Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
