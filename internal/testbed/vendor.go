package testbed

import (
	"github.com/tmsync/tmsync/internal/faultproxy"
)

// Vendor is a vendor registry as a sync meets it across the internet: a distribution
// registry behind a fault proxy that counts what it serves and injects the faults of
// its Config (none by default).
//
// Push the release to Registry.Host (not counted, no faults); point the sync at Host.
type Vendor struct {
	*Registry
	// Host is "127.0.0.1:PORT" of the proxy: the vendor registry's name in the release.
	Host string
	// Proxy counts blob downloads (Proxy.Stats().Blobs) and injects faults
	// (Proxy.SetConfig).
	Proxy *faultproxy.Proxy
}

// StartVendor starts a registry with opts behind a fault proxy with faults.
func StartVendor(t TB, opts RegistryOptions, faults faultproxy.Config) *Vendor {
	t.Helper()
	reg := StartRegistry(t, opts)
	p := faultproxy.Start(t, reg.Host, faults)
	return &Vendor{Registry: reg, Host: p.Host, Proxy: p}
}

// Ref returns "HOST/repo" through the proxy.
func (v *Vendor) Ref(repo string) string { return v.Host + "/" + repo }

// Egress is the blob body bytes the vendor sent so far: the source egress of a sync.
func (v *Vendor) Egress() int64 { return v.Proxy.Stats().BlobBytes() }
