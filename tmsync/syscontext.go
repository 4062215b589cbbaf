package tmsync

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/manifest"
)

// The system's containers configuration and tmsync.
//
// Every types.SystemContext tmsync builds comes from newSystemContext, which decides what
// of the machine's containers configuration is honoured:
//
//   - registries.conf and registries.conf.d (system, $HOME, CONTAINERS_REGISTRIES_CONF,
//     its _OVERRIDE): not read. They point at an empty configuration tmsync owns, so a
//     system file cannot turn TLS verification off (insecure = true), send pulls to a
//     mirror, block, or rewrite a registry, or add credential helpers. TLS is verified
//     unless the operator names the host with --insecure-registry.
//   - auth.json (--authfile or the usual locations) and the credential helpers it names:
//     read for upstream (BYO) registries and targets. The vendor's registry is logged in
//     to with the vendor token only, and the token goes to no other host.
//   - certs.d (/etc/containers/certs.d, /etc/docker/certs.d, $HOME/.config/containers/
//     certs.d): honoured. It can only add CA certificates and client certificates for
//     one host, not turn verification off; it is how a private CA for a target registry
//     is installed.
//   - policy.json: not read. tmsync verifies the vendor's attestations itself, before
//     any copy, and copies by the verified digest (see newPolicyContext).
func newSystemContext(host string, insecure []string) *types.SystemContext {
	conf, dir := emptyRegistriesConf()
	sys := &types.SystemContext{
		DockerRegistryUserAgent:     "tmsync/" + Version,
		SystemRegistriesConfPath:    conf,
		SystemRegistriesConfDirPath: dir,
		// Explicit: neither a system setting nor a failed HTTPS ping can turn it off (and
		// without it containers/image falls back to plain HTTP).
		DockerInsecureSkipTLSVerify: types.OptionalBoolFalse,
		DockerProxy:                 plainHTTPGuard(insecure),
	}
	if hostIn(host, insecure) {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	return sys
}

var (
	registriesConfOnce      sync.Once
	registriesConf, confDir string
)

// procNone is a drop-in folder that does not exist and that no one can create: procfs
// takes no new entries, not even from root.
const procNone = "/proc/tmsync-none/registries.conf.d"

// emptyRegistriesConf returns an empty registries.conf (/dev/null) and a drop-in folder
// that reads as empty: a missing folder does (a folder that is not one is an error), so on
// Linux it is procNone, which leaves nothing behind. Elsewhere it is an empty folder made
// once per process in a private temporary folder (left there: a removed one could be made
// again by someone else, with a configuration of theirs); when that cannot be made either,
// a path below /dev/null's name that cannot exist.
func emptyRegistriesConf() (string, string) {
	registriesConfOnce.Do(func() {
		registriesConf = os.DevNull
		if _, err := os.Stat(procNone); runtime.GOOS == "linux" && errors.Is(err, fs.ErrNotExist) {
			if st, err := os.Stat("/proc/self"); err == nil && st.IsDir() {
				confDir = procNone
				return
			}
		}
		confDir = filepath.Join(os.DevNull+".tmsync-none", "registries.conf.d")
		dir, err := os.MkdirTemp("", "tmsync-registries-")
		if err != nil {
			return
		}
		d := filepath.Join(dir, "registries.conf.d")
		if os.Mkdir(d, 0o700) == nil {
			confDir = d
		}
	})
	return registriesConf, confDir
}

// errPlainHTTP refuses a request in plain HTTP to a host not named by --insecure-registry.
var errPlainHTTP = errors.New("refusing plain HTTP to a registry not named by --insecure-registry")

// plainHTTPGuard is the proxy function of every registry connection of containers/image:
// it sees every request, redirects included, and refuses one in plain HTTP to a host
// that the operator did not name as insecure. containers/image's HTTP client follows
// redirects with Go's defaults, which keep the Authorization header on a redirect to the
// same host name on another scheme or port: an https registry that redirects to
// http://itself:80 would otherwise get the credential in clear text.
func plainHTTPGuard(insecure []string) func(*url.URL) (*url.URL, error) {
	return func(u *url.URL) (*url.URL, error) {
		if u.Scheme != "https" && !hostIn(u.Host, insecure) {
			return nil, fmt.Errorf("%w: %s://%s", errPlainHTTP, u.Scheme, u.Host)
		}
		return http.ProxyFromEnvironment(&http.Request{URL: u})
	}
}

// systemTLSOverrides returns one warning when the machine's registries.conf would weaken
// what tmsync does for one of hosts (mark it insecure, mirror, block or rewrite it),
// which tmsync does not honour; "" when it would not.
func systemTLSOverrides(hosts []string, insecure []string) string {
	sysregistriesv2.InvalidateCache() // the environment (CONTAINERS_REGISTRIES_CONF, HOME) may have changed
	sys := &types.SystemContext{}
	var found []string
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		reg, err := sysregistriesv2.FindRegistry(sys, h+"/tmsync")
		if err != nil || reg == nil {
			continue
		}
		var what []string
		if reg.Insecure && !hostIn(h, insecure) {
			what = append(what, "insecure")
		}
		if len(reg.Mirrors) > 0 {
			what = append(what, "mirrored")
		}
		if reg.Blocked {
			what = append(what, "blocked")
		}
		if reg.Location != "" && reg.Location != reg.Prefix && reg.Location != h {
			what = append(what, "rewritten to "+reg.Location)
		}
		if len(what) > 0 {
			found = append(found, h+" ("+strings.Join(what, ", ")+")")
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return fmt.Sprintf("the system's registries configuration %s sets %s: not honoured; tmsync verifies TLS to every registry not named by --insecure-registry and uses no mirror",
		sysregistriesv2.ConfigurationSourceDescription(sys), strings.Join(found, "; "))
}

// registryHoster is a target that knows its registry host before any call.
type registryHoster interface{ registryHost() string }

func (t *RegistryTarget) registryHost() string { return t.host }
func (t *ECRTarget) registryHost() string      { return t.opts.registryHost }

// warnSystemOverrides tells, once per run, that the machine's registries.conf would
// weaken the run's registries and is not honoured.
func (r *run) warnSystemOverrides() {
	var hosts []string
	for _, it := range r.items {
		hosts = append(hosts, it.src.Registry)
	}
	if h, ok := r.target.(registryHoster); ok {
		hosts = append(hosts, h.registryHost())
	}
	if msg := systemTLSOverrides(hosts, r.o.insecure); msg != "" {
		r.event(EventWarn, nil, msg)
	}
}

// sameRegistry reports whether two registry hosts name the same registry.
func sameRegistry(a, b string) bool { return manifest.SameRegistry(a, b) }
