package tmsync

import (
	"testing"

	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/manifest"
)

func TestVendorSourceSpellings(t *testing.T) {
	eng, err := New(fakeTargetForRedact{}, fakeAttestorForRedact{},
		WithSource(Source{Registry: "Docker.External.ThoughtMachine.io.:443", Username: "_tm", Password: "vendor-token-1234"}))
	if err != nil {
		t.Fatal(err)
	}
	if eng.opts.source.Registry != "docker.external.thoughtmachine.io" {
		t.Fatalf("vendor registry tidied to %q", eng.opts.source.Registry)
	}
	e := &run{Engine: eng, o: &eng.opts, vendor: vendorRegistry(eng.opts.source.Registry, &manifest.Folder{})}
	for host, vendor := range map[string]bool{
		"docker.external.thoughtmachine.io":      true,
		"DOCKER.external.thoughtmachine.io":      true,
		"docker.external.thoughtmachine.io:443":  true,
		"docker.external.thoughtmachine.io:0443": true,
		"docker.external.thoughtmachine.io.":     true,
		"docker.external.thoughtmachine.io.:443": true,
		"docker.external.thoughtmachine.io:80":   false,
		"docker.external.thoughtmachine.io:8443": false,
		"docker.external.thoughtmachine.io.evil": false,
		"evil.docker.external.thoughtmachine.io": false,
		"docker.external.thoughtmachine.io@evil": false,
		"docker-external.thoughtmachine.io":      false,
	} {
		img := manifest.Image{Source: manifest.Source{Registry: host, Repository: "vault/core"}}
		got, src := e.vendorSource(img)
		if got.Vendor != vendor {
			t.Errorf("%s: vendor %v, want %v", host, got.Vendor, vendor)
		}
		sys := e.sourceSys(src.Registry)
		if vendor != (sys.DockerAuthConfig != nil) {
			t.Errorf("%s: the vendor token given: %v, want %v", host, sys.DockerAuthConfig != nil, vendor)
		}
		if vendor && src.Name() != "docker.external.thoughtmachine.io/vault/core" {
			t.Errorf("%s: subject %s, want the vendor's spelling", host, src.Name())
		}
		if !vendor && src.Registry != host {
			t.Errorf("%s: an upstream source was renamed to %s", host, src.Registry)
		}
		if sys.DockerInsecureSkipTLSVerify != types.OptionalBoolFalse {
			t.Errorf("%s: TLS verification not explicitly on", host)
		}
	}
	// Image.Vendor from the manifest package is never undone.
	got, _ := e.vendorSource(manifest.Image{Vendor: true, Source: manifest.Source{Registry: "elsewhere.example", Repository: "x"}})
	if !got.Vendor {
		t.Error("an image the manifest says is the vendor's lost its vendor-ness")
	}
}
