package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestTokenEchoedCutOrQuoted: a vendor registry that answers with a plain-text 403 echoing
// the password it was sent. containers/image cuts such a body at 50 bytes, adds "..." and
// quotes it with %q; so the console, the JSON log, sync-error.log, the report and the
// JUnit file would hold the first part of an ordinary token, or the whole of a token with
// a '"' (as `\"`). An attestation server echoing the token in a 200 answer is quoted by the
// preflight cut at 40 characters and "…". No 8 characters of the token in a row may reach
// any of them.
func TestTokenEchoedCutOrQuoted(t *testing.T) {
	for _, c := range []struct{ name, token, prefix string }{
		{"cut", "tm-vendor-token-5f2a9c81d7e34b60aa11bb22cc33dd44", "credential rejected: "},
		{"quoted", `Tm"Tok&en<1>-5f2a9c81d7e34b60`, "bad credential "},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBedToken(t, c.token)
			t.Setenv("TM_TOKEN", b.token)
			host := echoPassword(t, b.vendor.Host, c.prefix)
			images := []releasetest.Image{{Repository: "vault/echo", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10}}
			b.push(images, 7, false)
			occ, err := b.signer.Occurrence(attest.Subject{Repository: host + "/vault/echo", Digest: digest.Digest(images[0].Digest)})
			must(t, err)
			b.att.Add(occ)
			rel := filepath.Join(b.dir, "release")
			must(t, os.Mkdir(rel, 0o755))
			writeRelease(t, rel, "5.0.3", host, images, nil)
			junit := filepath.Join(b.dir, "junit.xml")
			var out strings.Builder
			code := run(context.Background(), b.args(rel, "--srcdomain", host, "--insecure-registry", host, "--skip-preflight",
				"--junit", junit, "--log-format", "json", "--log-level", "debug"), &out, &out)
			if code == 0 {
				t.Fatalf("exit 0: the registry refused every manifest")
			}
			all := out.String()
			for _, f := range []string{b.dir + "/sync-error.log", b.dir + "/report.json", junit} {
				data, err := os.ReadFile(f)
				must(t, err)
				all += "\n" + string(data)
			}
			if !strings.Contains(all, c.prefix) {
				t.Fatalf("the echoed body is not in the output: the test tests nothing\n%s", out.String())
			}
			noPieceOf(t, c.token, all)
		})
	}
	t.Run("preflight", func(t *testing.T) {
		b := newBedToken(t, "tm-vendor-token-5f2a9c81d7e34b60aa11bb22cc33dd44")
		t.Setenv("TM_TOKEN", b.token)
		att := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"occurrences":[],"a":"%s"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}))
		defer att.Close()
		images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10}}
		b.push(images, 3, true)
		rel := filepath.Join(b.dir, "release")
		must(t, os.Mkdir(rel, 0o755))
		writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
		code, out := b.run(b.args(rel, "--src_attestions_address", att.URL))
		if code != 2 || !strings.Contains(out, "lists no occurrences") {
			t.Fatalf("exit %d, want 2 and the preflight's problem:\n%s", code, out)
		}
		noPieceOf(t, b.token, out+"\n"+b.errorLog())
	})
}

// echoPassword is a proxy in front of a registry that answers every manifest request
// carrying credentials with a plain-text 403: prefix and the password it was sent.
func echoPassword(t *testing.T, registry, prefix string) string {
	t.Helper()
	target, err := url.Parse("http://" + registry)
	must(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); ok && strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, prefix+pass)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// noPieceOf fails when text holds 8 characters of secret in a row, as they are or as
// %q writes them.
func noPieceOf(t *testing.T, secret, text string) {
	t.Helper()
	quoted := strings.Trim(fmt.Sprintf("%q", secret), `"`)
	for _, s := range []string{secret, quoted} {
		for i := 0; i+8 <= len(s); i++ {
			if piece := s[i : i+8]; strings.Contains(text, piece) {
				for _, line := range strings.Split(text, "\n") {
					if strings.Contains(line, piece) {
						t.Errorf("%q of the token reached the output: %s", piece, line)
						return
					}
				}
			}
		}
	}
}
