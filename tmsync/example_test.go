package tmsync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	digest "github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"

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

// Retryable decides by an error's structure: a registry's 503 is worth another try, its
// 404 is not, and neither is an error that only says something in its text.
func ExampleRetryable() {
	for _, err := range []error{
		fmt.Errorf("reading blob: %w", docker.UnexpectedHTTPStatusError{StatusCode: 503}),
		fmt.Errorf("reading manifest: %w", docker.UnexpectedHTTPStatusError{StatusCode: 404}),
		errors.New("503 Service Unavailable"),
	} {
		fmt.Println(tmsync.Retryable(err))
	}
	// Output:
	// true
	// false
	// false
}

// Flags and configuration files name modes and severities as text; Parse* refuses what
// is not one of them.
func ExampleParseMode() {
	for _, s := range []string{"verify", "copy"} {
		m, err := tmsync.ParseMode(s)
		fmt.Printf("%q %v\n", m, err)
	}
	sev, _ := tmsync.ParseSeverity("high")
	fmt.Println(sev)
	// Output:
	// "verify" <nil>
	// "" mode "copy": want plan, sync or verify
	// HIGH
}
