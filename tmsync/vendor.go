package tmsync

import (
	"strings"

	"github.com/tmsync/tmsync/manifest"
)

// Who counts as the vendor.
//
// An image is a vendor image (its attestation is required whatever --byo-policy says) when
// the manifest package says so (Image.Vendor: its source is on the vendor registry,
// whatever file or field named it) or when its source host is the vendor registry's under
// manifest.SameRegistry: another case, an explicit :443, a trailing dot, or another
// spelling of the loopback host are the same registry. The vendor token goes only to the
// vendor registry, and a vendor image is pulled from, and its attestation looked up for,
// the vendor registry as --srcdomain spells it (tidied: lower case, no trailing dot, no
// :443): the spelling in a release file decides nothing.

// vendorSource returns img with Vendor set when its source is on the vendor registry, and
// the source to pull and to check the attestation of.
func (r *run) vendorSource(img manifest.Image) (manifest.Image, manifest.Source) {
	src := img.Source
	if img.Vendor || manifest.SameRegistry(src.Registry, r.vendor) {
		img.Vendor = true
		src.Registry = r.vendor
	}
	return img, src
}

// tidyHost is a registry host in the form tmsync connects to and names in attestation
// subjects: lower case, without a trailing dot, without the default port 443. A host
// that is not valid is returned as it is (and is the vendor registry of nothing).
func tidyHost(h string) string {
	if _, err := manifest.CanonicalRegistry(h); err != nil {
		return h
	}
	name, port, hasPort := strings.Cut(strings.ToLower(h), ":")
	if strings.HasPrefix(h, "[") { // IPv6: leave it as written, lower-cased
		return strings.ToLower(h)
	}
	name = strings.TrimSuffix(name, ".")
	if !hasPort || strings.TrimLeft(port, "0") == "443" {
		return name
	}
	return name + ":" + port
}
