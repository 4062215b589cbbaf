package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestVendorImageUnderAnotherSpelling: the vendor registry runs on 127.0.0.1:PORT. An
// unattested image on it, named by a release.json or a BYO list with another spelling of
// that host (localhost, another case, a trailing dot, the port written with a leading
// zero, IPv6 loopback), is a vendor image: with the default --byo-policy=pinned it is
// rejected for want of an attestation, no repository is created, nothing is copied. An
// attested one named so is verified against the vendor's spelling and copied.
func TestVendorImageUnderAnotherSpelling(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{
		{Repository: "vault/signed", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10},
		{Repository: "vault/unsigned", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10},
	}
	b.push(images, 21, false)
	b.attest(images[0].Repository, images[0].Digest)
	_, port, _ := strings.Cut(b.vendor.Host, ":")
	spellings := []string{"localhost:" + port, "LOCALHOST:" + port, "LocalHost:" + port, "localhost.:" + port,
		"127.0.0.1:0" + port, "[::1]:" + port}
	unsigned := "/vault/unsigned@" + images[1].Digest
	ctx := context.Background()
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	refused := func(rel string, dests []string) {
		t.Helper()
		code, out := b.run(b.args(rel))
		b.assertClean("console", out)
		if code != 1 && code != 2 {
			t.Fatalf("%s: exit %d, want 1 or 2", rel, code)
		}
		if code == 1 {
			if rep := b.report(); len(rep.Images) > 0 && !rep.Images[0].Vendor {
				t.Errorf("%s: %s is not reported as a vendor image", rel, rep.Images[0].Source)
			}
			byDest := map[string]string{}
			for _, im := range b.report().Images {
				byDest[im.Dest] = string(im.Outcome) + " " + im.Step
			}
			for _, d := range dests {
				if byDest[d] != "rejected attestation" {
					t.Errorf("%s: %s is %q, want rejected at the attestation", rel, d, byDest[d])
				}
			}
		}
		for _, d := range dests {
			repo, _, _ := strings.Cut(d, ":")
			if _, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/" + repo}}); err == nil {
				t.Errorf("%s: repository %s was created", rel, repo)
			}
		}
	}

	// In release.json: the attested image under another spelling is copied, verified
	// against the vendor's; each spelling of the unattested one is refused.
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, nil, map[string]string{
		"signed": "LOCALHOST:" + port + "/vault/signed:5.0.3@" + images[0].Digest + "|vault/signed:5.0.3"})
	if code, _ := b.run(b.args(rel)); code != 0 {
		t.Fatalf("the attested image under LOCALHOST: exit %d", code)
	}
	for _, im := range b.report().Images {
		if im.Outcome != "copied" || im.Attestation == nil || !im.Vendor {
			t.Errorf("the attested image under LOCALHOST: %s %+v vendor=%v, want copied with its attestation", im.Outcome, im.Attestation, im.Vendor)
		}
	}
	for i, sp := range spellings {
		rel := filepath.Join(b.dir, "json"+string(rune('a'+i)))
		must(t, os.Mkdir(rel, 0o755))
		d := "vault/unsigned" + string(rune('a'+i)) + ":5.0.3"
		writeRelease(t, rel, "5.0.3", b.vendor.Host, nil, map[string]string{"u": sp + unsigned + "|" + d})
		refused(rel, []string{d})
	}

	// In a BYO list: the pull location is the vendor registry under another spelling.
	for i, sp := range spellings {
		rel := filepath.Join(b.dir, "byo"+string(rune('a'+i)))
		must(t, os.Mkdir(rel, 0o755))
		dest := "restricted/evil" + string(rune('a'+i)) + ":5.0.3"
		must(t, os.WriteFile(filepath.Join(rel, "5.0.3_byo_images.txt"), []byte(dest+" "+sp+unsigned+"\n"), 0o644))
		refused(rel, []string{dest})
	}
	assertNoSecrets(t, b.dir, b.secretForms()...)
}
