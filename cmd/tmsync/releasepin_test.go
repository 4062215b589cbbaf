package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestReleaseSHA256Pin: plan prints the release folder's digest (which sha256sum
// recomputes as documented); sync with --release-sha256 of another folder, or of this
// folder before one byte of it changed, exits 2 and creates and copies nothing; with the
// folder's own digest it syncs and reports it.
func TestReleaseSHA256Pin(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{{Repository: "vault/pinned", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10}}
	b.push(images, 31, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	must(t, os.WriteFile(filepath.Join(rel, "5.0.3_tm_registry_images.txt"), []byte("vault/pinned:5.0.3\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(rel, "README.md"), []byte("not read by tmsync\n"), 0o644))

	planArgs := b.args(rel)
	planArgs[1] = "plan"
	code, out := b.run(planArgs)
	m := regexp.MustCompile(`INFO: release folder sha256 ([0-9a-f]{64}) \(2 files`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("plan: exit %d, no release folder digest over 2 files printed", code)
	}
	pin := m[1]
	if got := b.report().ReleaseSHA256; got != pin {
		t.Errorf("report releaseSha256 %q, want %s", got, pin)
	}
	// The documented recipe, without tmsync.
	sh := exec.Command("sh", "-c", "sha256sum 5.0.3_tm_registry_images.txt 5.0.3_release.json | LC_ALL=C sort -k2 | sha256sum")
	sh.Dir = rel
	if res, err := sh.Output(); err != nil || !strings.HasPrefix(string(res), pin) {
		t.Errorf("sha256sum recipe gives %q (%v), tmsync %s", res, err, pin)
	}

	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	nothingDone := func(what string) {
		t.Helper()
		if _, err := ecrc.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/vault/pinned"}}); err == nil {
			t.Errorf("%s: a repository was created", what)
		}
	}
	other := strings.Repeat("0", 64)
	if code, out := b.run(b.args(rel, "--release-sha256", other)); code != 2 || !strings.Contains(out, "not the one pinned") {
		t.Errorf("another folder's digest: exit %d, want 2", code)
	}
	nothingDone("another folder's digest")
	if code, _ := b.run(b.args(rel, "--release-sha256", "not-a-digest")); code != 2 {
		t.Errorf("a malformed pin: exit %d, want 2", code)
	}
	// One more byte in the approved folder (valid JSON still: a run would go ahead).
	data, err := os.ReadFile(filepath.Join(rel, "5.0.3_release.json"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(rel, "5.0.3_release.json"), append(append([]byte(nil), data...), ' '), 0o644))
	if code, out := b.run(b.args(rel, "--release-sha256", pin)); code != 2 || !strings.Contains(out, "not the one pinned") {
		t.Errorf("an edited folder: exit %d, want 2", code)
	}
	nothingDone("an edited folder")
	must(t, os.WriteFile(filepath.Join(rel, "5.0.3_release.json"), data, 0o644))
	// The approved folder, pinned (upper case and a sha256: prefix are accepted).
	if code, _ := b.run(b.args(rel, "--release-sha256", "sha256:"+strings.ToUpper(pin))); code != 0 {
		t.Fatalf("the approved folder: exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
	if got := b.report().ReleaseSHA256; got != pin {
		t.Errorf("report releaseSha256 %q, want %s", got, pin)
	}
	if got := b.targetDigest("3rdparty/tm/vault/pinned", "5.0.3"); got != images[0].Digest {
		t.Errorf("target %s, want %s", got, images[0].Digest)
	}
}
