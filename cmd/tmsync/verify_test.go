package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync"
)

// withMode returns args with the command (sync) replaced by mode.
func withMode(args []string, mode string) []string {
	out := append([]string(nil), args...)
	out[1] = mode
	return out
}

// TestVerifyECR runs `tmsync verify` against the ECR pair: after a sync it passes, online
// and from the offline attestation bundle the sync saved; against a target with a missing
// tag, a tag that points to another image and a repository without its KMS key it fails
// with one clear line each, and changes nothing.
func TestVerifyECR(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	t.Setenv("TM_TOKEN", b.token)

	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/ledger", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/postings", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10, Index: true},
	}
	b.push(images, 700, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	bundle := filepath.Join(b.dir, "attestations.json")
	junit := filepath.Join(b.dir, "junit.xml")
	if code, _ := b.run(b.args(rel, "--save-attestation-bundle", bundle)); code != 0 {
		t.Fatalf("sync: exit %d; error log:\n%s", code, b.errorLog())
	}
	// The sync's report holds the settings the repositories were created with.
	checkState := func(mode string, reps []tmsync.Repository) {
		t.Helper()
		if len(reps) != 3 {
			t.Errorf("%s: %d repositories in the report, want 3", mode, len(reps))
		}
		for _, r := range reps {
			if r.State["encryptionType"] != "KMS" || r.State["kmsKey"] == "" || r.State["imageTagMutability"] != "IMMUTABLE" ||
				r.State["scanOnPush"] != "false" || r.State["lifecyclePolicySha256"] == "" {
				t.Errorf("%s: repository %s: state %v, want KMS, a key, IMMUTABLE, no scan and a lifecycle hash", mode, r.Name, r.State)
			}
		}
	}
	checkState("sync", b.report().Repositories)

	// A good target: verify passes, with the same report, and pushes nothing.
	pushes := b.ecr.ManifestPushes()
	code, out := b.run(withMode(b.args(rel, "--junit", junit), "verify"))
	if code != 0 {
		t.Fatalf("verify of a good target: exit %d; error log:\n%s", code, b.errorLog())
	}
	if log := b.errorLog(); log != "" {
		t.Errorf("verify of a good target: error log %q, want empty", log)
	}
	if strings.Contains(out, "SKIP") || !strings.Contains(out, "3 present") {
		t.Errorf("verify of a good target: the console lists present images as SKIP or does not count them:\n%s", out)
	}
	if n := b.ecr.ManifestPushes(); n != pushes {
		t.Errorf("verify of a good target pushed %d manifests", n-pushes)
	}
	rep := b.report()
	if rep.Mode != tmsync.ModeVerify || rep.Summary.Present != 3 || rep.Summary.Images != 3 {
		t.Errorf("verify report: mode %s, summary %+v; want verify, 3 present", rep.Mode, rep.Summary)
	}
	if !strings.HasPrefix(rep.Caller, "arn:aws:") {
		t.Errorf("verify report: caller %q, want the STS ARN", rep.Caller)
	}
	for _, im := range rep.Images {
		if im.Attestation == nil || im.Destination == "" {
			t.Errorf("%s: attestation %v, destination %q: want both", im.Dest, im.Attestation, im.Destination)
		}
		if wantChildren := map[bool]int{true: 2}[im.Dest == "vault/postings:5.0.3"]; len(im.Children) != wantChildren {
			t.Errorf("%s: children %v, want %d", im.Dest, im.Children, wantChildren)
		}
	}
	checkState("verify", rep.Repositories)
	if _, err := os.Stat(junit); err != nil {
		t.Errorf("verify wrote no JUnit file: %v", err)
	}
	if !strings.Contains(out, "INFO: verify finished: 3 images: 0 copied, 3 present") {
		t.Errorf("console has no verify summary:\n%s", out)
	}

	// Offline: the bundle the sync saved, an attestation server that does not answer, and
	// no vendor token (an audit account has none).
	t.Setenv("TM_TOKEN", "")
	offline := b.args(rel, "--attestation-bundle", bundle, "--src-token-secret", "no-such-secret")
	for i, a := range offline {
		if a == "--src_attestions_address" {
			offline[i+1] = "http://127.0.0.1:1/unreachable"
		}
	}
	if code, _ := b.run(withMode(offline, "verify")); code != 0 {
		t.Fatalf("verify from the offline bundle: exit %d; error log:\n%s", code, b.errorLog())
	}
	if rep := b.report(); rep.Summary.Present != 3 || rep.Images[0].Attestation == nil {
		t.Errorf("offline verify: summary %+v, attestation %v", rep.Summary, rep.Images[0].Attestation)
	}
	// A bundle that lacks the release's attestations does not pass.
	empty := filepath.Join(b.dir, "empty-bundle.json")
	must(t, os.WriteFile(empty, []byte(`{"version":1,"occurrences":[]}`), 0o644))
	offlineEmpty := b.args(rel, "--attestation-bundle", empty, "--src-token-secret", "no-such-secret")
	if code, _ := b.run(withMode(offlineEmpty, "verify")); code != 1 {
		t.Errorf("verify from a bundle without the attestations: exit %d, want 1", code)
	} else if log := b.errorLog(); strings.Count(log, "ERROR: attestation failed: ") != 3 {
		t.Errorf("verify from an empty bundle: error log %q, want an attestation failure per image", log)
	}
	t.Setenv("TM_TOKEN", b.token)

	// A broken target. The next release names:
	//   vault/core:5.0.4    attested, never copied: its tag is missing;
	//   vault/ledger:5.0.4  attested, but the tag in ECR was pushed directly with another image;
	//   vault/nokms:5.0.4   attested, its repository was created beforehand with AES256;
	//   vault/postings:5.0.3 (an index) still in place.
	next := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.4", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/ledger", Tag: "5.0.4", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/nokms", Tag: "5.0.4", Layers: 1, LayerSize: 8 << 10},
	}
	b.push(next, 900, true)
	wrong := releasetest.Image{Repository: "3rdparty/tm/vault/ledger", Tag: "5.0.4", Layers: 1, LayerSize: 8 << 10}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: b.ecr.Host, Auth: &authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password}}, &wrong, 4242))
	_, err := b.ecr.Client().CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:          aws.String("3rdparty/tm/vault/nokms"),
		EncryptionConfiguration: &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeAes256},
		ImageTagMutability:      ecrtypes.ImageTagMutabilityImmutable,
	})
	must(t, err)
	rel2 := filepath.Join(b.dir, "release2")
	must(t, os.Mkdir(rel2, 0o755))
	writeRelease(t, rel2, "5.0.4", b.vendor.Host, append(next, images[2]), nil)

	pushes = b.ecr.ManifestPushes()
	code, out = b.run(withMode(b.args(rel2), "verify"))
	if code != 1 {
		t.Fatalf("verify of a broken target: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(b.errorLog()), "\n")
	want := map[string][]string{
		"vault/core:5.0.4":   {"ERROR: verify failed: vault/core:5.0.4: ", "3rdparty/tm/vault/core:5.0.4 is missing from the target"},
		"vault/ledger:5.0.4": {"ERROR: lookup failed: vault/ledger:5.0.4: ", "points to another digest", wrong.Digest, next[1].Digest},
		"vault/nokms:5.0.4":  {"ERROR: repository failed: vault/nokms:5.0.4: ", "encryption", "AES256", "KMS"},
	}
	if len(lines) != len(want) {
		t.Errorf("error log has %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for img, parts := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, parts[0]) {
				found = true
				for _, p := range parts[1:] {
					if !strings.Contains(l, p) {
						t.Errorf("%s: line %q does not say %q", img, l, p)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s: no line starting %q in the error log:\n%s", img, parts[0], strings.Join(lines, "\n"))
		}
		if !strings.Contains(out, "] "+img+": ") {
			t.Errorf("%s: no progress line on the console", img)
		}
	}
	rep = b.report()
	if rep.Mode != tmsync.ModeVerify || rep.Summary.Present != 1 || rep.Summary.Failed != 3 {
		t.Errorf("broken verify: mode %s summary %+v, want 1 present, 3 failed", rep.Mode, rep.Summary)
	}
	// verify changes nothing: no push, no new repository, the AES256 one left as it is.
	if n := b.ecr.ManifestPushes(); n != pushes {
		t.Errorf("verify pushed %d manifests", n-pushes)
	}
	d, err := b.ecr.Client().DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/vault/nokms"}})
	must(t, err)
	if enc := d.Repositories[0].EncryptionConfiguration; enc == nil || enc.EncryptionType != ecrtypes.EncryptionTypeAes256 {
		t.Errorf("verify changed the repository's encryption: %+v", enc)
	}
	if got := b.targetDigest("3rdparty/tm/vault/ledger", "5.0.4"); got != wrong.Digest {
		t.Errorf("verify changed vault/ledger:5.0.4 to %s", got)
	}
	assertNoSecrets(t, b.dir, b.token, b.ecr.Password)
}
