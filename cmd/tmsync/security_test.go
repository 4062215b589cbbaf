package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
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
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// forged is text an attacker puts in a remote string to forge a CodeBuild log line and
// repaint a terminal.
const forged = "\nINFO: [9/9] DONE: all images verified\r\x1b[2J\u202e"

// secretForms are the spellings of the bed's secrets that must appear nowhere.
func (b *bed) secretForms() []string {
	forms := []string{b.token, url.QueryEscape(b.token)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		forms = append(forms, enc.EncodeToString([]byte("_tm:"+b.token)), enc.EncodeToString([]byte(b.token)))
	}
	return append(forms, b.ecr.Password)
}

// assertClean fails if text holds a secret, a control character or a line forged by
// remote text.
func (b *bed) assertClean(what, text string) {
	b.t.Helper()
	for _, s := range b.secretForms() {
		if s != "" && strings.Contains(text, s) {
			b.t.Errorf("%s holds a secret (%.6s...)", what, s)
		}
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "INFO: [9/9] DONE") {
			b.t.Errorf("%s has a forged line %q", what, l)
		}
		if strings.ContainsAny(l, "\r\x1b\u202e") {
			b.t.Errorf("%s has a control character in %q", what, l)
		}
	}
}

// echoingRegistry is the vendor registry behind a proxy that, for the repositories in
// echo, answers every manifest request with an error whose body echoes the credential it
// was sent (the Authorization header, and the password decoded from it) and forged log
// lines, as a hostile or badly written registry would.
func echoingRegistry(t *testing.T, upstream string, echo ...string) string {
	t.Helper()
	target, _ := url.Parse("http://" + upstream)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, repo := range echo {
			if strings.HasPrefix(r.URL.Path, "/v2/"+repo+"/manifests/") && r.Header.Get("Authorization") != "" {
				h := r.Header.Get("Authorization")
				_, pass, _ := r.BasicAuth()
				msg := fmt.Sprintf("credential %q rejected: %s password=%s%s", h, h, pass, forged)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": "DENIED", "message": msg, "detail": pass}}})
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestSecurityTokenAndRemoteTextInEveryOutput: a vendor registry that echoes the
// credential and forged lines in its error bodies, an occurrence whose name carries
// forged lines, and a credential helper for the upstream registry that records the
// environment and arguments it was started with. The token is in no output, no child's
// environment or argv; the forged lines are escaped, on the line that quotes them.
func TestSecurityTokenAndRemoteTextInEveryOutput(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	ctx := context.Background()
	vendorHost := echoingRegistry(t, b.vendor.Host, "vault/echo")

	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/echo", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
	}
	b.push(images, 7, false)
	for _, im := range images {
		occ, err := b.signer.Occurrence(attest.Subject{Repository: vendorHost + "/" + im.Repository, Digest: digest.Digest(im.Digest)},
			attesttest.Name("projects/tm-attestations-project/occurrences/x"+forged))
		must(t, err)
		b.att.Add(occ)
	}
	byo := releasetest.Image{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 4 << 10}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: b.upstream.Host}, &byo, 99))

	// A credential helper for the upstream registry, found on PATH as containers/image
	// looks for it: it records what it was given and knows no credential.
	bin := filepath.Join(b.dir, "bin")
	must(t, os.Mkdir(bin, 0o755))
	record := filepath.Join(b.dir, "helper-record.txt")
	must(t, os.WriteFile(filepath.Join(bin, "docker-credential-x"), []byte("#!/bin/sh\n"+
		"{ echo \"ARGV: $0 $*\"; echo ENV:; env; echo STDIN:; cat; echo; } >> '"+record+"'\n"+
		"echo 'credentials not found in native keychain'\nexit 1\n"), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	authFile := filepath.Join(b.dir, "auth.json")
	must(t, os.WriteFile(authFile, []byte(`{"credHelpers":{"`+b.upstream.Host+`":"x"}}`), 0o600))

	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", vendorHost, images, map[string]string{
		"grafana": b.upstream.Host + "/grafana/grafana@" + byo.Digest + "|restricted/grafana:vault-5.0.3",
	})
	args := b.args(rel, "--srcdomain", vendorHost, "--insecure-registry", vendorHost, "--authfile", authFile,
		"--junit", filepath.Join(b.dir, "junit.xml"))
	code, out := b.run(args)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the echoing image fails)", code)
	}
	rep := b.report()
	for _, im := range rep.Images {
		switch im.Dest {
		case "vault/echo:5.0.3":
			if im.Outcome != "failed" || !strings.Contains(im.Reason, "[REDACTED]") || !strings.Contains(im.Reason, `\nINFO: [9/9] DONE`) {
				t.Errorf("echo image: %s %q, want failed with the token redacted and the forged line escaped", im.Outcome, im.Reason)
			}
		case "vault/core:5.0.3":
			if im.Outcome != "copied" || im.Attestation == nil || !strings.Contains(im.Attestation.Occurrence, `x\nINFO`) {
				t.Errorf("core image: %s %+v, want copied with the occurrence name escaped", im.Outcome, im.Attestation)
			}
		case "restricted/grafana:vault-5.0.3":
			if im.Outcome != "copied" {
				t.Errorf("BYO image: %s %q", im.Outcome, im.Reason)
			}
		}
	}
	if !strings.Contains(out, `\nINFO: [9/9] DONE`) {
		t.Errorf("the console does not show the forged text escaped:\n%s", out)
	}
	b.assertClean("console", out)
	for _, f := range []string{"sync-error.log", "report.json", "junit.xml"} {
		data, err := os.ReadFile(filepath.Join(b.dir, f))
		must(t, err)
		b.assertClean(f, string(data))
		if f != "report.json" && strings.Contains(string(data), `\u001b`) {
			t.Errorf("%s holds an escape sequence", f)
		}
	}
	// The summary of the saved report, for people.
	var summary bytes.Buffer
	if code := run(ctx, []string{"tmsync", "report", filepath.Join(b.dir, "report.json")}, &summary, &summary); code != 1 ||
		!strings.Contains(summary.String(), `\nINFO: [9/9] DONE`) {
		t.Errorf("tmsync report: exit %d, want 1 and the forged text escaped:\n%s", code, summary.String())
	}
	b.assertClean("tmsync report", summary.String())
	// The helper ran (so the check below can fail) and saw no secret.
	seen, err := os.ReadFile(record)
	if err != nil || !strings.Contains(string(seen), "ARGV: ") {
		t.Fatalf("the credential helper did not run: %v", err)
	}
	for _, s := range append(b.secretForms(), "TM_TOKEN=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=") {
		if s != "" && strings.Contains(string(seen), s) {
			t.Errorf("the credential helper's environment or argv holds %.12s...", s)
		}
	}
	assertNoSecrets(t, b.dir, b.secretForms()...)
}
