package tmsync_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// Example syncs a one-image release from a vendor registry into a plain registry, with
// the vendor's attestation checked, then syncs it again.
func Example() {
	ctx := context.Background()
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	vendor, target := httptest.NewServer(registry.New(quiet)), httptest.NewServer(registry.New(quiet))
	defer vendor.Close()
	defer target.Close()
	vendorHost, targetHost := strings.TrimPrefix(vendor.URL, "http://"), strings.TrimPrefix(target.URL, "http://")

	// The vendor's side: an image, its release file, its signed attestation.
	img := releasetest.Image{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 1024}
	_ = releasetest.Push(ctx, releasetest.Registry{Host: vendorHost}, &img, 1)
	dir, _ := os.MkdirTemp("", "release-")
	defer os.RemoveAll(dir)
	_, _ = releasetest.WriteRelease(dir, "5.0.3", vendorHost, []releasetest.Image{img})
	signer, _ := attesttest.NewSigner("Vault Release Attestor")
	server := attesttest.NewServer("vendor-token")
	defer server.Close()
	occ, _ := signer.Occurrence(attest.Subject{Repository: vendorHost + "/vault/core", Digest: digest.Digest(img.Digest)})
	server.Add(occ)

	// The bank's side: the attestor's public key, the attestation client, the target.
	keyring, _ := signer.Keyring()
	verifier, _ := attest.NewVerifier(keyring)
	client, _ := attest.NewClient(server.URL, attest.WithToken("vendor-token"))
	attestor, _ := tmsync.NewAttestor(client, verifier)
	dst, _ := tmsync.NewRegistryTarget(targetHost+"/3rdparty/tm", tmsync.WithTargetInsecure())

	eng, err := tmsync.New(dst, attestor, tmsync.WithInsecure(vendorHost, targetHost))
	if err != nil {
		fmt.Println(err)
		return
	}
	release := tmsync.ReleaseDir(dir, manifest.WithVendorRegistry(vendorHost))
	for range 2 {
		rep, err := eng.Sync(ctx, release)
		if err != nil {
			fmt.Println(err)
			return
		}
		im := rep.Images[0]
		fmt.Printf("%s: %s, attested: %v, exit status %d\n", im.Dest, im.Outcome, im.Attestation != nil, rep.ExitStatus())
	}
	// Output:
	// vault/core:5.0.3: copied, attested: true, exit status 0
	// vault/core:5.0.3: present, attested: true, exit status 0
}
