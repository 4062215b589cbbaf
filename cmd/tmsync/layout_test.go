package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// documentedLayout writes a release as docs/operations.md and infra/README.md lay it out
// for the pipeline: the release file in releases/, the attestor key and the repository
// settings files next to that folder (`zip -r release.zip releases src_attestor.pgp ...`),
// in work. It returns work.
func documentedLayout(t *testing.T, b *bed, images []releasetest.Image) string {
	t.Helper()
	work := filepath.Join(b.dir, "work")
	rel := filepath.Join(work, "releases")
	must(t, os.MkdirAll(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	key, err := os.ReadFile(b.keyFile)
	must(t, err)
	for name, body := range map[string]string{
		"src_attestor.pgp":          string(key),
		"resource_tags.txt":         `[{"Key":"owner","Value":"platform"},{"Key":"app","Value":"vault"}]`,
		"ecr_policy.json":           "111122223333\n444455556666\n",
		"ecr_lifecycle_policy.json": `{"rules":[{"rulePriority":1,"description":"layout-test rule","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`,
	} {
		must(t, os.WriteFile(filepath.Join(work, name), []byte(body), 0o644))
	}
	return work
}

// TestDocumentedReleaseLayout runs the buildspec's command line (its flags, with
// --release-dir releases and no --src_attestor) in a folder laid out as the operations
// guide says. The key and the settings files are next to releases/, not in it: they are
// found in the working folder, and every repository gets the file's tags, policy and
// lifecycle rule. Before, the defaults were read from the release folder only: the run
// stopped on a missing key, and with the key moved into releases/ it created repositories
// without tags or policy.
func TestDocumentedReleaseLayout(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10}}
	b.push(images, 7, true)
	work := documentedLayout(t, b, images)
	t.Chdir(work)

	code, out := b.run(without(b.args("releases"), "--src_attestor"))
	if code != 0 {
		t.Fatalf("exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
	if strings.Contains(out, "no resource tags file") || strings.Contains(out, "no repository policy file") || strings.Contains(out, "no lifecycle policy file") {
		t.Errorf("a settings file next to releases/ was not found:\n%s", out)
	}
	ctx := context.Background()
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	full := "3rdparty/tm/vault/core"
	d, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{full}})
	must(t, err)
	tl, err := ecrc.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: d.Repositories[0].RepositoryArn})
	if err != nil || len(tl.Tags) != 2 {
		t.Errorf("resource tags %+v %v, want owner and app from resource_tags.txt", tl, err)
	}
	pol, err := ecrc.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(full)})
	if err != nil || !strings.Contains(aws.ToString(pol.PolicyText), "444455556666") {
		t.Errorf("repository policy %v, want ecr_policy.json's accounts", err)
	}
	lc, err := ecrc.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(full)})
	if err != nil || !strings.Contains(aws.ToString(lc.LifecyclePolicyText), "layout-test rule") {
		t.Errorf("lifecycle policy %v, want ecr_lifecycle_policy.json's rule", err)
	}
	if got := b.targetDigest(full, "5.0.3"); got != images[0].Digest {
		t.Errorf("target has %s, release says %s", got, images[0].Digest)
	}
}

// TestDefaultFilesInBothFolders: a default-named file in the release folder and in the
// working folder is used when the two are the same bytes, and refused, naming both, when
// they differ (for the key: two trust anchors, and tmsync does not pick one). A refused run
// creates nothing. A name given with its flag is used as given.
func TestDefaultFilesInBothFolders(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10}}
	b.push(images, 11, true)
	work := documentedLayout(t, b, images)
	t.Chdir(work)
	args := without(b.args("releases"), "--src_attestor")
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	noRepository := func(when string) {
		t.Helper()
		d, err := ecrc.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
		if err != nil || len(d.Repositories) != 0 {
			t.Errorf("%s: %d repositories created (%v), want none", when, len(d.Repositories), err)
		}
	}

	// Another key in releases/: refused, both named, nothing created.
	other, err := attesttest.NewSigner("Someone Else")
	must(t, err)
	otherKey, err := other.ArmoredPublicKey()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(work, "releases", "src_attestor.pgp"), otherKey, 0o644))
	code, out := b.run(args)
	if code != 2 || !strings.Contains(out, filepath.Join(work, "releases", "src_attestor.pgp")) ||
		!strings.Contains(out, filepath.Join(work, "src_attestor.pgp")) || !strings.Contains(out, "differ") {
		t.Fatalf("two different keys: exit %d, want 2 naming both files", code)
	}
	if log := b.errorLog(); !strings.Contains(log, "--src_attestor") {
		t.Errorf("error log does not name --src_attestor:\n%s", log)
	}
	noRepository("two different keys")

	// The same conflict for a settings file, the lifecycle policy.
	key, err := os.ReadFile(b.keyFile)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(work, "releases", "src_attestor.pgp"), key, 0o644))
	must(t, os.WriteFile(filepath.Join(work, "releases", "ecr_lifecycle_policy.json"), []byte(`{"rules":[]}`), 0o644))
	if code, out := b.run(args); code != 2 || !strings.Contains(out, "--trg_ecr_lifecycle_file_path") {
		t.Fatalf("two different lifecycle files: exit %d, want 2 naming the flag", code)
	}
	noRepository("two different lifecycle files")

	// Named with its flag: used as given, the other copies not looked at.
	args2 := append(append([]string{}, args...), "--trg_ecr_lifecycle_file_path", "ecr_lifecycle_policy.json")
	if code, _ := b.run(args2); code != 0 {
		t.Fatalf("lifecycle named with its flag, same key in both folders: exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
}

// TestTrustWarnings: the two ways into the target that do not go through the attestation
// check are said at the start of a plan and a sync. An attestor key that
// --src-attestor-fingerprint does not pin is a WARNING (in the pipeline it comes in the
// release zip, from whoever uploads the release), said more plainly when the key was found
// in the release folder only (--release-sha256 does not cover it). A repository policy that lets principals push
// (or change the repositories) is a WARNING naming the actions; one that lets them pull is
// not.
func TestTrustWarnings(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10}}
	b.push(images, 13, true)
	work := documentedLayout(t, b, images)
	t.Chdir(work)
	plan := func(extra ...string) string {
		t.Helper()
		args := append(without(b.args("releases"), "--src_attestor"), extra...)
		args[1] = "plan"
		code, out := b.run(args)
		if code != 0 {
			t.Fatalf("plan %v: exit %d, want 0:\n%s", extra, code, out)
		}
		return out
	}
	const keyWarning = "was read from the release folder"
	out := plan()
	if strings.Contains(out, keyWarning) || strings.Contains(out, "lets principals") {
		t.Errorf("key and pull-only policy in the working folder: a release-folder or policy warning:\n%s", out)
	}
	// The key in the working folder is not pinned either (in the pipeline it comes in the
	// release zip): a warning, gone with its fingerprint.
	if !strings.Contains(out, "WARNING: the attestor key "+filepath.Join(work, "src_attestor.pgp")+" is not pinned") {
		t.Errorf("key in the working folder, no fingerprint: no warning:\n%s", out)
	}
	if out := plan("--src-attestor-fingerprint", b.signer.Fingerprint()); strings.Contains(out, "WARNING: the attestor key") {
		t.Errorf("key pinned by its fingerprint: a warning:\n%s", out)
	}
	t.Setenv("TMSYNC_SRC_ATTESTOR_FINGERPRINT", b.signer.Fingerprint())
	if out := plan(); strings.Contains(out, "WARNING: the attestor key") {
		t.Errorf("key pinned by TMSYNC_SRC_ATTESTOR_FINGERPRINT: a warning:\n%s", out)
	}
	must(t, os.Unsetenv("TMSYNC_SRC_ATTESTOR_FINGERPRINT")) // t.Setenv puts it back as it was
	// The key in releases/ only.
	must(t, os.Rename(filepath.Join(work, "src_attestor.pgp"), filepath.Join(work, "releases", "src_attestor.pgp")))
	out = plan()
	if !strings.Contains(out, "WARNING: the attestor key "+filepath.Join(work, "releases", "src_attestor.pgp")+" "+keyWarning) ||
		!strings.Contains(out, "--src-attestor-fingerprint") {
		t.Errorf("key in the release folder only: no warning naming it and the fingerprint flag:\n%s", out)
	}
	if out := plan("--src-attestor-fingerprint", b.signer.Fingerprint()); strings.Contains(out, keyWarning) {
		t.Errorf("key pinned by its fingerprint: still a warning:\n%s", out)
	}
	// A sync says it too, and its run is not refused for it.
	args := without(b.args("releases"), "--src_attestor")
	if code, out := b.run(args); code != 0 || !strings.Contains(out, keyWarning) {
		t.Errorf("sync with the key in the release folder: exit %d, want 0 with the warning", code)
	}
	must(t, os.Rename(filepath.Join(work, "releases", "src_attestor.pgp"), filepath.Join(work, "src_attestor.pgp")))

	// A policy that lets a foreign account push.
	must(t, os.WriteFile(filepath.Join(work, "ecr_policy.json"), []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":["ecr:BatchGetImage","ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"]}]}`), 0o644))
	out = plan()
	if !strings.Contains(out, "WARNING: the repository policy "+filepath.Join(work, "ecr_policy.json")+" lets principals push or change the repositories: "+
		`statement ({"AWS":"arn:aws:iam::999988887777:root"}) grants ecr:BatchGetImage, ecr:PutImage, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload.`) {
		t.Errorf("a policy granting push: no warning naming the actions:\n%s", out)
	}
}
