package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
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
	copyImage, pushed := copyHelpers(t, b, dst, "localhost:"+port)

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

// TestCopyBYOPolicy: `tmsync copy` of an image outside the vendor registry gets sync's BYO
// policy. pinned (the default): by tag it is refused (exit 2, nothing pushed) with the
// digest its tag points to, by that digest it is copied; attested: its attestation is
// verified like a vendor image's; --insecure-skip-attestation copies by tag with a
// warning.
func TestCopyBYOPolicy(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	dst := testbed.StartRegistry(t, testbed.RegistryOptions{})
	images := []releasetest.Image{
		{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 4 << 10},
		{Repository: "grafana/loki", Tag: "2.9", Layers: 1, LayerSize: 4 << 10, Index: true},
	}
	for i := range images {
		must(t, releasetest.Push(context.Background(), releasetest.Registry{Host: b.upstream.Host}, &images[i], 41+int64(i)))
	}
	// The vendor attests loki (under the upstream host), not grafana.
	occ, err := b.signer.Occurrence(attest.Subject{Repository: b.upstream.Host + "/grafana/loki", Digest: digest.Digest(images[1].Digest)})
	must(t, err)
	b.att.Add(occ)
	up := b.upstream.Host
	copyImage, pushed := copyHelpers(t, b, dst, up)

	// pinned, by tag: refused before anything is pushed, with the digest to pin.
	for i, extra := range [][]string{nil, {"--byo-policy", "pinned"}, {"--byo-policy=pinned"}} {
		dest := fmt.Sprintf("tag/grafana:%d", i)
		code, out := copyImage(up+"/grafana/grafana:10.0", dest, extra...)
		if code != 2 || pushed(dest) != "" || !strings.Contains(out, "names no digest") ||
			!strings.Contains(out, up+"/grafana/grafana@"+images[0].Digest) {
			t.Errorf("by tag %v: exit %d, pushed %q, want 2, nothing pushed and the digest to pin", extra, code, pushed(dest))
		}
	}
	// pinned, by digest: copied.
	if code, _ := copyImage(up+"/grafana/grafana@"+images[0].Digest, "pinned/grafana:1"); code != 0 || pushed("pinned/grafana:1") != images[0].Digest {
		t.Errorf("by digest: exit %d, pushed %q, want 0 and %s", code, pushed("pinned/grafana:1"), images[0].Digest)
	}
	// attested: loki (attested) by tag is copied by the verified digest; grafana is not.
	if code, out := copyImage(up+"/grafana/loki:2.9", "att/loki:1", "--byo-policy", "attested"); code != 0 ||
		pushed("att/loki:1") != images[1].Digest || !strings.Contains(out, "attestation verified") {
		t.Errorf("attested loki: exit %d, pushed %q, want 0 and %s", code, pushed("att/loki:1"), images[1].Digest)
	}
	for _, src := range []string{up + "/grafana/grafana:10.0", up + "/grafana/grafana@" + images[0].Digest} {
		if code, out := copyImage(src, "att/grafana:1", "--byo-policy", "attested"); code != 1 || pushed("att/grafana:1") != "" ||
			!strings.Contains(out, "attestation") {
			t.Errorf("attested, grafana %s: exit %d, pushed %q, want 1 and nothing pushed", src, code, pushed("att/grafana:1"))
		}
	}
	// attested without a key file: bad input, nothing pushed.
	if code, _ := copyImage(up+"/grafana/loki:2.9", "att/loki:2", "--byo-policy", "attested", "--src_attestor", filepath.Join(b.dir, "missing.pgp")); code != 2 ||
		pushed("att/loki:2") != "" {
		t.Errorf("attested without a key: exit %d, want 2 and nothing pushed", code)
	}
	// A policy in another case is the policy; one that does not exist is bad input.
	if code, _ := copyImage(up+"/grafana/grafana@"+images[0].Digest, "case/grafana:1", "--byo-policy", "Pinned"); code != 0 {
		t.Errorf("--byo-policy Pinned: exit %d, want 0", code)
	}
	for _, p := range []string{"pinnedd", "none", ""} {
		if code, out := copyImage(up+"/grafana/grafana@"+images[0].Digest, "bad/grafana:1", "--byo-policy", p); code != 2 ||
			pushed("bad/grafana:1") != "" || !strings.Contains(out, "--byo-policy") {
			t.Errorf("--byo-policy %q: exit %d, want 2", p, code)
		}
	}
	// The escape hatch: by tag, with a warning.
	if code, out := copyImage(up+"/grafana/grafana:10.0", "skip/grafana:1", "--insecure-skip-attestation"); code != 0 ||
		pushed("skip/grafana:1") != images[0].Digest || !strings.Contains(out, "WARNING: ") {
		t.Errorf("--insecure-skip-attestation by tag: exit %d, pushed %q, want 0 with a WARNING", code, pushed("skip/grafana:1"))
	}
	// A tag that does not exist: refused all the same, without a digest to offer.
	if code, out := copyImage(up+"/grafana/grafana:nope", "tag/none:1"); code != 2 || strings.Contains(out, "points to") {
		t.Errorf("missing tag: exit %d, want 2 without a digest", code)
	}
}

// copyHelpers returns a function that runs `tmsync copy` from the bed's registries (the
// vendor, with its attestation server and key, and the insecure hosts named) into dst,
// checking that its output holds no secret, and one that reads the digest a tag of dst
// holds ("" for none).
func copyHelpers(t *testing.T, b *bed, dst *testbed.Registry, insecure ...string) (copyImage func(src, dest string, extra ...string) (int, string), pushed func(dest string) string) {
	copyImage = func(src, dest string, extra ...string) (int, string) {
		t.Helper()
		args := []string{"tmsync", "copy", "--srcdomain", b.vendor.Host, "--src_attestions_address", b.att.URL,
			"--src_attestor", b.keyFile, "--insecure-registry", b.vendor.Host, "--insecure-registry", dst.Host}
		for _, h := range insecure {
			args = append(args, "--insecure-registry", h)
		}
		var out bytes.Buffer
		code := run(context.Background(), append(append(args, extra...), src, dst.Host+"/"+dest), &out, &out)
		t.Logf("copy %s %v: exit %d\n%s", src, extra, code, out.String())
		b.assertClean("copy output", out.String())
		return code, out.String()
	}
	pushed = func(dest string) string {
		ref, _ := name.ParseReference(dst.Host+"/"+dest, name.Insecure)
		d, err := remote.Head(ref)
		if err != nil {
			return ""
		}
		return d.Digest.String()
	}
	return copyImage, pushed
}
