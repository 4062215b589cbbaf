package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync"
)

// TestBuildspecRunsOnDocumentedLayout runs the shipped pipeline's build command, as the
// buildspec holds it (build/buildspec_build.yaml, parsed with PyYAML), with a real tmsync
// (this test binary behind bin/tmsync), in a folder laid out as the operations guide says
// a release is sent (releases/ with the key and the settings files next to it), against
// the test bed: moto for ECR, KMS and STS, the vendor registry and the attestation
// server. Only what the test bed's addresses need is added, through the TMSYNC_*
// variables; the command line is the buildspec's own. The buildspec's flags and the
// documented layout had drifted apart once (the key looked for in releases/ only): every
// pipeline run would have stopped with exit 2, and no test ran the two together.
//
// The attestor key is pinned as Terraform pins it (TMSYNC_SRC_ATTESTOR_FINGERPRINT): a pin
// that names another key stops the run before anything is created, however good the key
// file next to releases/ is. The attestation bundle the command saves lets verify run
// offline, as docs/pipeline-gates.md promises an auditor.
func TestBuildspecRunsOnDocumentedLayout(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to read the buildspec (make test installs it)")
	}
	script := `import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
sys.stdout.write(d["phases"]["build"]["commands"][0])`
	out, err := exec.Command(py, "-c", script, filepath.Join("..", "..", "build", "buildspec_build.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("reading the buildspec's build command: %v\n%s", err, out)
	}
	build := string(out)
	if !strings.Contains(build, "./bin/tmsync sync") || !strings.Contains(build, "--release-dir releases") {
		t.Fatalf("the buildspec's build command is not the one this test knows:\n%s", build)
	}

	b := newBed(t)
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/postings", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10, Index: true},
	}
	b.push(images, 13, true)
	work := documentedLayout(t, b, images)
	self, err := filepath.Abs(os.Args[0])
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(work, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(work, "bin", "tmsync"), []byte("#!/bin/sh\nTMSYNC_TEST_MAIN=1 exec '"+self+"' \"$@\"\n"), 0o755))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", build)
	cmd.Dir = work
	// The test bed's addresses, which CodeBuild does not need, in a --config file named by
	// TMSYNC_CONFIG (outside the release folder, as an operator's would be).
	cfg := filepath.Join(t.TempDir(), "testbed.yaml")
	must(t, os.WriteFile(cfg, []byte("trg-registry: '"+b.ecr.Host+"'\nsrcdomain: '"+b.vendor.Host+"'\n"+
		"src_attestions_address: '"+b.att.URL+"'\ninsecure-registry: ['"+b.vendor.Host+"', '"+b.ecr.Host+"']\n"), 0o600))
	env := append(os.Environ(),
		"AWS_REGION=us-east-1", "ECR_KMS_ARN=alias/tmsync-ecr", "TM_TOKEN="+b.token, "TMSYNC_CONFIG="+cfg)
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())

	// Pinned to another key: exit 2, no repository made.
	cmd.Env = append(env, "TMSYNC_SRC_ATTESTOR_FINGERPRINT="+strings.Repeat("AB", 20))
	console, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(console), "not in the attestor keyring") {
		t.Fatalf("pinned to another key: %v, want the run refused\n%s", err, console)
	}
	if rc, _ := os.ReadFile(filepath.Join(work, "sync-exit-code")); strings.TrimSpace(string(rc)) != "2" {
		t.Errorf("pinned to another key: sync-exit-code %q, want 2", rc)
	}
	if d, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil || len(d.Repositories) != 0 {
		t.Fatalf("pinned to another key: repositories %+v (%v), want none", d, err)
	}

	// Pinned to the vendor's key twice, as gpg prints it (groups of four, lower case) and
	// in upper case: two comma-separated entries are both taken. (A rotation, two keys,
	// is attest's TestVerifyPinning.)
	fpr := strings.ToLower(b.signer.Fingerprint())
	var spaced []string
	for i := 0; i < len(fpr); i += 4 {
		spaced = append(spaced, fpr[i:min(i+4, len(fpr))])
	}
	cmd = exec.CommandContext(ctx, "bash", "-c", build)
	cmd.Dir = work
	cmd.Env = append(env, "TMSYNC_SRC_ATTESTOR_FINGERPRINT="+strings.Join(spaced, " ")+","+b.signer.Fingerprint())
	console, err = cmd.CombinedOutput()
	t.Logf("the buildspec's build command:\n%s", console)
	if err != nil {
		t.Fatalf("the build command failed: %v", err)
	}
	if rc, err := os.ReadFile(filepath.Join(work, "sync-exit-code")); err != nil || strings.TrimSpace(string(rc)) != "0" {
		t.Fatalf("sync-exit-code %q (%v), want 0", rc, err)
	}
	if log, err := os.ReadFile(filepath.Join(work, "sync-error.log")); err != nil || len(log) != 0 {
		t.Fatalf("sync-error.log %q (%v), want empty", log, err)
	}
	rep, err := tmsync.ReadReport(filepath.Join(work, "sync-report.json"))
	must(t, err)
	if rep.Summary.Copied != len(images) {
		t.Errorf("report: %+v, want %d copied", rep.Summary, len(images))
	}
	if _, err := os.Stat(filepath.Join(work, "sync-junit.xml")); err != nil {
		t.Errorf("no sync-junit.xml: %v", err)
	}
	// The settings next to releases/ reached every repository.
	for _, im := range images {
		full := "3rdparty/tm/" + im.Repository
		if got := b.targetDigest(full, im.Tag); got != im.Digest {
			t.Errorf("%s:%s is %s in ECR, the release says %s", full, im.Tag, got, im.Digest)
		}
		d, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{full}})
		must(t, err)
		tl, err := ecrc.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: d.Repositories[0].RepositoryArn})
		if err != nil || len(tl.Tags) != 2 {
			t.Errorf("%s: resource tags %+v %v, want the two of resource_tags.txt", full, tl, err)
		}
		lc, err := ecrc.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(full)})
		if err != nil || !strings.Contains(aws.ToString(lc.LifecyclePolicyText), "layout-test rule") {
			t.Errorf("%s: lifecycle policy %v, want ecr_lifecycle_policy.json's rule", full, err)
		}
	}

	// The attestation bundle (a build artifact, kept in the artifacts bucket) holds an
	// attestation of every image, and verify runs from it with the attestation server out
	// of reach: the audit re-run of docs/pipeline-gates.md.
	f, err := os.Open(filepath.Join(work, "attestations.json"))
	if err != nil {
		t.Fatalf("the build command saved no attestation bundle: %v", err)
	}
	bundle, err := attest.ReadBundle(f)
	f.Close()
	must(t, err)
	if len(bundle.Occurrences) < len(images) {
		t.Errorf("attestations.json holds %d occurrences, want at least %d (one per image)", len(bundle.Occurrences), len(images))
	}
	verify := exec.CommandContext(ctx, "./bin/tmsync", "verify", "--trgprefix=/3rdparty/tm/", "--trgregion=us-east-1",
		"--src_packages_postfix=images.txt", "--src_release=release.json", "--trg_kms_key_alias=alias/tmsync-ecr",
		"--release-dir", "releases", "--error-log", "audit-error.log", "--report", "audit-report.json",
		"--src-attestor-fingerprint", b.signer.Fingerprint(),
		"--attestation-bundle", "attestations.json", "--src_attestions_address", "http://127.0.0.1:1/v1/occurrences")
	verify.Dir = work
	verify.Env = env
	vout, err := verify.CombinedOutput()
	if err != nil {
		t.Fatalf("verify from the saved bundle, attestation server unreachable: %v\n%s", err, vout)
	}
	vrep, err := tmsync.ReadReport(filepath.Join(work, "audit-report.json"))
	must(t, err)
	if vrep.Mode != tmsync.ModeVerify || vrep.Summary.Failed != 0 || len(vrep.Images) != len(images) {
		t.Errorf("verify from the bundle: mode %s, summary %+v, %d images; want verify, no failure, %d images", vrep.Mode, vrep.Summary, len(vrep.Images), len(images))
	}
}
