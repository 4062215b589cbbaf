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
	cmd.Env = append(os.Environ(),
		"AWS_REGION=us-east-1", "ECR_KMS_ARN=alias/tmsync-ecr", "TM_TOKEN="+b.token, "TMSYNC_CONFIG="+cfg)
	console, err := cmd.CombinedOutput()
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
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
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
}
