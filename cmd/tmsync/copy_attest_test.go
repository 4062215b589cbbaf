package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
)

// TestCopyVerifiesVendorImages: `tmsync copy` of an image on the vendor registry checks
// its attestation like sync: a valid one copies (by the verified digest), a missing or
// tampered one refuses and pushes nothing, whatever spelling of the vendor host the
// source uses; --insecure-skip-attestation copies with a warning.
func TestCopyVerifiesVendorImages(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	dst := testbed.StartRegistry(t, testbed.RegistryOptions{})
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10},
		{Repository: "vault/unattested", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10},
		{Repository: "vault/tampered", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10, Index: true},
	}
	b.push(images, 11, false)
	b.attest(images[0].Repository, images[0].Digest)
	// A valid signature by the vendor's key, filed under the image, over another digest.
	b.attest(images[2].Repository, images[2].Digest, attesttest.SignDigest(digest.Digest(images[0].Digest)))

	_, port, _ := strings.Cut(b.vendor.Host, ":")
	copyImage := func(src, dest string, extra ...string) (int, string) {
		t.Helper()
		args := []string{"tmsync", "copy", "--srcdomain", b.vendor.Host, "--src_attestions_address", b.att.URL,
			"--src_attestor", b.keyFile, "--insecure-registry", b.vendor.Host, "--insecure-registry", "localhost:" + port,
			"--insecure-registry", dst.Host}
		var out bytes.Buffer
		code := run(context.Background(), append(append(args, extra...), src, dst.Host+"/"+dest), &out, &out)
		t.Logf("copy %s: exit %d\n%s", src, code, out.String())
		b.assertClean("copy output", out.String())
		return code, out.String()
	}
	pushed := func(dest string) string {
		ref, _ := name.ParseReference(dst.Host+"/"+dest, name.Insecure)
		d, err := remote.Head(ref)
		if err != nil {
			return ""
		}
		return d.Digest.String()
	}

	if code, out := copyImage(b.vendor.Host+"/vault/core:5.0.3", "ok/core:1"); code != 0 || pushed("ok/core:1") != images[0].Digest ||
		!strings.Contains(out, "attestation verified") {
		t.Errorf("attested image by tag: exit %d, pushed %q, want 0 and %s", code, pushed("ok/core:1"), images[0].Digest)
	}
	for i, src := range []string{
		b.vendor.Host + "/vault/unattested:5.0.3",
		b.vendor.Host + "/vault/unattested@" + images[1].Digest,
		b.vendor.Host + "/vault/tampered:5.0.3",
		"localhost:" + port + "/vault/unattested:5.0.3",
		"LOCALHOST:" + port + "/vault/unattested:5.0.3",
	} {
		dest := "refused/x:" + string(rune('a'+i))
		code, out := copyImage(src, dest)
		if code != 1 || pushed(dest) != "" || !strings.Contains(out, "attestation") {
			t.Errorf("%s: exit %d, pushed %q, want 1, an attestation error and nothing pushed", src, code, pushed(dest))
		}
	}
	code, out := copyImage(b.vendor.Host+"/vault/unattested:5.0.3", "skipped/x:1", "--insecure-skip-attestation")
	if code != 0 || pushed("skipped/x:1") != images[1].Digest || !strings.Contains(out, "WARNING: ") || !strings.Contains(out, "WITHOUT verifying") {
		t.Errorf("--insecure-skip-attestation: exit %d, want 0 with a WARNING", code)
	}
}
