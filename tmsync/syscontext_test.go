package tmsync

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"
)

// The light HEAD client does not follow an https registry's redirect to plain http: the
// request carries the registry credential.
func TestTagLookupRefusesDowngrade(t *testing.T) {
	var leaked atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("a", 64))
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			if _, _, ok := r.BasicAuth(); !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
				w.WriteHeader(http.StatusUnauthorized)
			}
			return
		}
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer tls.Close()
	host := strings.TrimPrefix(tls.URL, "https://")
	l := newTagLookup(host, &types.SystemContext{DockerAuthConfig: &types.DockerAuthConfig{Username: "u", Password: "registry-password"}}, false)
	l.client.Transport.(*http.Transport).TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
	_, _, err := l.digest(context.Background(), "repo", "1")
	if err == nil || !strings.Contains(err.Error(), "downgrade") {
		t.Fatalf("lookup through a redirect to http: %v, want a refusal", err)
	}
	if leaked.Load() != 0 {
		t.Fatal("the credential went to the plain HTTP server")
	}
}

func TestPlainHTTPGuard(t *testing.T) {
	g := plainHTTPGuard([]string{"127.0.0.1:5000"})
	for u, ok := range map[string]bool{
		"https://registry.example/v2/": true,
		"http://127.0.0.1:5000/v2/":    true,
		"http://127.0.0.1:5001/v2/":    false,
		"http://registry.example/v2/":  false,
		"HTTP://registry.example/v2/":  false,
	} {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		_, gerr := g(parsed)
		if (gerr == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", u, gerr, ok)
		}
	}
}

func TestSystemOverridesWarning(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, []byte("[[registry]]\nlocation = \"vendor.example:443\"\ninsecure = true\n"+
		"[[registry]]\nlocation = \"upstream.example\"\n[[registry.mirror]]\nlocation = \"mirror.example\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_REGISTRIES_CONF", conf)
	defer sysregistriesv2.InvalidateCache()
	msg := systemTLSOverrides([]string{"vendor.example:443", "upstream.example", "other.example"}, nil)
	if !strings.Contains(msg, "vendor.example:443 (insecure)") || !strings.Contains(msg, "upstream.example (mirrored)") || strings.Contains(msg, "other.example") {
		t.Errorf("warning %q", msg)
	}
	if msg := systemTLSOverrides([]string{"vendor.example:443"}, []string{"vendor.example:443"}); msg != "" {
		t.Errorf("a host the operator named insecure: warning %q", msg)
	}
	// tmsync's own contexts read none of it.
	reg, err := sysregistriesv2.FindRegistry(newSystemContext("vendor.example:443", nil), "vendor.example:443/x")
	if err != nil || reg != nil {
		t.Errorf("tmsync's system context found %+v %v in the system configuration", reg, err)
	}
}

// The empty registries configuration leaves nothing on disk (it once left an empty
// tmsync-registries-* folder in $TMPDIR per process: thousands on a build machine), and
// containers/image reads it as empty.
func TestEmptyRegistriesConfLeavesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs: Linux only")
	}
	conf, dir := emptyRegistriesConf()
	if conf != os.DevNull || dir != procNone {
		t.Fatalf("registries.conf %q, drop-ins %q: want %q and %q", conf, dir, os.DevNull, procNone)
	}
	if _, err := os.ReadDir(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the drop-in folder %s: %v, want it missing", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err == nil {
		t.Fatalf("%s could be made: someone could put a configuration there", dir)
	}
	sysregistriesv2.InvalidateCache()
	regs, err := sysregistriesv2.GetRegistries(newSystemContext("example.com", nil))
	if err != nil || len(regs) != 0 {
		t.Fatalf("containers/image read %d registries, error %v: want an empty configuration", len(regs), err)
	}
}
