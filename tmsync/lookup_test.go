package tmsync

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"go.podman.io/image/v5/types"
)

// TestTagLookupBasicAuth: against a real distribution registry with htpasswd, the light
// client finds a present tag's digest, says absent for a missing one, and reuses its
// connection (one ping for many look-ups).
func TestTagLookupBasicAuth(t *testing.T) {
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{Username: "push", Password: "pw-123"})
	im := releasetest.Image{Repository: "tm/vault/a", Tag: "1.0", Layers: 1, LayerSize: 64}
	if err := releasetest.Push(context.Background(), releasetest.Registry{Host: reg.Host, Auth: &authn.Basic{Username: "push", Password: "pw-123"}}, &im, 1); err != nil {
		t.Fatal(err)
	}
	l := newTagLookup(reg.Host, &types.SystemContext{DockerAuthConfig: &types.DockerAuthConfig{Username: "push", Password: "pw-123"}}, true)
	d, found, err := l.digest(context.Background(), "tm/vault/a", "1.0")
	if err != nil || !found || d.String() != im.Digest {
		t.Fatalf("present tag: %s %v %v, want %s", d, found, err, im.Digest)
	}
	if _, found, err := l.digest(context.Background(), "tm/vault/a", "2.0"); err != nil || found {
		t.Fatalf("missing tag: found=%v err=%v", found, err)
	}
	if _, found, err := l.digest(context.Background(), "tm/vault/none", "1.0"); err != nil || found {
		t.Fatalf("missing repository: found=%v err=%v", found, err)
	}
	bad := newTagLookup(reg.Host, &types.SystemContext{DockerAuthConfig: &types.DockerAuthConfig{Username: "push", Password: "wrong"}}, true)
	if _, _, err := bad.digest(context.Background(), "tm/vault/a", "1.0"); err == nil {
		t.Fatal("a wrong password was not an error")
	}
}

// TestTagLookupBearer: the token flow of Harbor, Artifactory and Docker Hub, against a
// small token-auth registry, with the challenge spelled the ways registries spell it.
func TestTagLookupBearer(t *testing.T) {
	// %s is the realm's address. A realm may carry its own query (some token services
	// take the account or the tenant there, with commas): the lookup keeps it and sets
	// scope and service.
	for _, tc := range []struct{ name, challenge, account string }{
		{"plain realm", `Bearer realm="%s",service="reg"`, ""},
		{"realm with a query", `Bearer realm="%s?account=bank&scope=ignored",service="reg"`, "bank"},
		{"quoted comma in the realm", `Bearer realm="%s?account=bank,eu",service="reg"`, "bank,eu"},
		{"spaces and case", `bearer  Realm = "%s" , SERVICE = reg`, ""},
		{"several challenges", `Negotiate, Bearer realm="%s",service="reg",scope="repository:tm/app:pull,push"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { testTagLookupBearer(t, tc.challenge, tc.account) })
	}
}

func testTagLookupBearer(t *testing.T, challenge, account string) {
	var tokens, heads atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			u, p, _ := r.BasicAuth()
			q := r.URL.Query()
			if u != "robot" || p != "s3cret" || len(q["scope"]) != 1 || q.Get("scope") != "repository:tm/app:pull" || q.Get("service") != "reg" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if q.Get("account") != account {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			tokens.Add(1)
			w.Write([]byte(`{"token":"tok-1"}`))
		case r.Header.Get("Authorization") != "Bearer tok-1":
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(challenge, srv.URL+"/token"))
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/v2/tm/app/manifests/1.0" && r.Method == http.MethodHead:
			heads.Add(1)
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("a", 64))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	l := newTagLookup(host, &types.SystemContext{DockerAuthConfig: &types.DockerAuthConfig{Username: "robot", Password: "s3cret"}}, true)
	for range 3 {
		d, found, err := l.digest(context.Background(), "tm/app", "1.0")
		if err != nil || !found || d.Encoded() != strings.Repeat("a", 64) {
			t.Fatalf("bearer: %s %v %v", d, found, err)
		}
	}
	if tokens.Load() != 1 || heads.Load() != 3 {
		t.Fatalf("%d tokens for 3 look-ups of one repository, %d HEADs; want 1 and 3", tokens.Load(), heads.Load())
	}
}
