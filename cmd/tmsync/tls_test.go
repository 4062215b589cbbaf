package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
)

// tlsRegistry is a self-signed HTTPS front of a plain registry. redirect, when set, makes
// it answer manifest requests with a redirect to that URL prefix.
type tlsRegistry struct {
	srv      *httptest.Server
	host     string
	redirect atomic.Value // string
}

func startTLSRegistry(t *testing.T, upstream string) *tlsRegistry {
	t.Helper()
	target, _ := url.Parse("http://" + upstream)
	proxy := httputil.NewSingleHostReverseProxy(target)
	r := &tlsRegistry{}
	r.redirect.Store("")
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if to := r.redirect.Load().(string); to != "" && strings.Contains(req.URL.Path, "/manifests/") {
			http.Redirect(w, req, to+req.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "https://")
	return r
}

// TestSystemRegistriesConfDoesNotTurnTLSOff: a registries.conf (CONTAINERS_REGISTRIES_CONF
// and $HOME's) that marks a self-signed HTTPS registry insecure does not make tmsync
// accept its certificate; --insecure-registry does; a CA in $HOME's certs.d is honoured;
// and a redirect from that registry to plain HTTP is not followed with the credential.
func TestSystemRegistriesConfDoesNotTurnTLSOff(t *testing.T) {
	ctx := context.Background()
	const password = "upstream-password-93c1e07a"
	src := testbed.StartRegistry(t, testbed.RegistryOptions{Username: "puller", Password: password})
	dst := testbed.StartRegistry(t, testbed.RegistryOptions{})
	im := releasetest.Image{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 4 << 10}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: src.Host, Auth: &authn.Basic{Username: "puller", Password: password}}, &im, 5))
	tr := startTLSRegistry(t, src.Host)

	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	conf := "[[registry]]\nlocation = \"" + tr.host + "\"\ninsecure = true\n"
	must(t, os.MkdirAll(filepath.Join(home, ".config", "containers"), 0o755))
	must(t, os.WriteFile(filepath.Join(home, ".config", "containers", "registries.conf"), []byte(conf), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "registries.conf"), []byte(conf), 0o644))
	t.Setenv("HOME", home)
	t.Setenv("CONTAINERS_REGISTRIES_CONF", filepath.Join(dir, "registries.conf"))
	authFile := filepath.Join(dir, "auth.json")
	must(t, os.WriteFile(authFile, []byte(`{"auths":{"`+tr.host+`":{"auth":"`+
		base64.StdEncoding.EncodeToString([]byte("puller:"+password))+`"}}}`), 0o600))
	// The setting is one containers/image would honour: without tmsync's override this
	// test would copy.
	sysregistriesv2.InvalidateCache()
	if reg, err := sysregistriesv2.FindRegistry(&types.SystemContext{}, tr.host+"/x"); err != nil || reg == nil || !reg.Insecure {
		t.Fatalf("the test's registries.conf is not in effect: %+v %v", reg, err)
	}

	srcRef := tr.host + "/grafana/grafana@" + im.Digest
	copyTo := func(dest string, extra ...string) (int, string) {
		var out bytes.Buffer
		args := append([]string{"tmsync", "copy", "--authfile", authFile, "--insecure-registry", dst.Host}, extra...)
		code := run(ctx, append(args, srcRef, dst.Host+"/"+dest), &out, &out)
		t.Logf("copy to %s: exit %d\n%s", dest, code, out.String())
		if strings.Contains(out.String(), password) {
			t.Error("copy printed the registry password")
		}
		return code, out.String()
	}
	pushed := func(dest string) bool {
		ref, _ := name.ParseReference(dst.Host+"/"+dest, name.Insecure)
		_, err := remote.Head(ref)
		return err == nil
	}

	if code, out := copyTo("refused:1"); code != 1 || !strings.Contains(out, "certificate") || pushed("refused:1") {
		t.Errorf("system insecure=true: exit %d, want 1 with a certificate error and nothing pushed", code)
	}
	if code, _ := copyTo("named:1", "--insecure-registry", tr.host); code != 0 || !pushed("named:1") {
		t.Errorf("--insecure-registry %s: exit %d, want 0", tr.host, code)
	}

	// The registry's CA in $HOME's certs.d: trusted, verified.
	certDir := filepath.Join(home, ".config", "containers", "certs.d", tr.host)
	must(t, os.MkdirAll(certDir, 0o755))
	must(t, os.WriteFile(filepath.Join(certDir, "ca.crt"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tr.srv.Certificate().Raw}), 0o644))
	if code, _ := copyTo("certsd:1"); code != 0 || !pushed("certsd:1") {
		t.Errorf("CA in certs.d: exit %d, want 0", code)
	}

	// A redirect from https to plain http on the same host name: Go's client would send
	// the Authorization header along. The request is refused before it leaves.
	var leaked atomic.Int32
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		if req.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer plain.Close()
	tr.redirect.Store(plain.URL)
	if code, out := copyTo("redirected:1"); code != 1 || !strings.Contains(out, "refusing plain HTTP") || pushed("redirected:1") {
		t.Errorf("redirect to http: exit %d, want 1 refusing plain HTTP", code)
	}
	if leaked.Load() != 0 || hits.Load() != 0 {
		t.Errorf("the plain HTTP server got %d requests, %d with a credential", hits.Load(), leaked.Load())
	}
}
