package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a CNCF distribution registry (docker-registry) serving plain HTTP on
// 127.0.0.1, with filesystem storage in a temporary folder.
type Registry struct {
	// Host is "127.0.0.1:PORT": the registry's name in image references.
	Host string
	// Username and Password are the basic-auth credentials, empty when auth is off.
	Username, Password string
	// Dir holds the configuration and the storage.
	Dir string

	proc *process
}

// Stop stops the registry before the test ends (an air-gapped import must not need it).
// Stopping twice is harmless.
func (r *Registry) Stop() {
	if r.proc != nil {
		r.proc.stop()
	}
}

// RegistryOptions configure StartRegistry. The zero value starts a registry with no auth.
type RegistryOptions struct {
	// Username and Password turn on htpasswd (bcrypt) basic auth with this one user.
	Username, Password string
}

// StartRegistry starts a distribution registry and returns once it answers on /v2/.
func StartRegistry(t TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := NeedProgram(t, "docker-registry", "Debian package docker-registry")
	dir := t.TempDir()
	r := &Registry{Username: opts.Username, Password: opts.Password, Dir: dir}
	auth := ""
	if opts.Username != "" {
		// bcrypt in-process rather than `htpasswd -Bbn`: the password never reaches a
		// process's arguments, even in tests.
		h, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("hashing registry password: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(opts.Username+":"+string(h)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: tmsync-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between probe and bind
		port := FreePort(t)
		r.Host = "127.0.0.1:" + portString(port)
		cfg := RegistryConfig(filepath.Join(dir, "data"), r.Host, hex.EncodeToString(secret), auth)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var p *process
		p, lastErr = startProcess("docker-registry "+r.Host, []string{bin, "serve", cfgPath}, dir,
			httpReady("http://"+r.Host+"/v2/", 200, 401), 15*time.Second)
		if lastErr == nil {
			r.proc = p
			p.stopAtCleanup(t)
			return r
		}
	}
	t.Fatalf("starting registry: %v", lastErr)
	return nil
}

// Ref returns "HOST/repo" for a repository in this registry.
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// RegistryConfig is the configuration of a distribution registry serving plain HTTP on
// addr with filesystem storage in root; auth is an "auth:" section or "". The bench uses
// it too, so that what is measured is what is tested.
func RegistryConfig(root, addr, secret, auth string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
%s`, root, addr, secret, auth)
}
