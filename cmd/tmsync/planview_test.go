package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestPlanView: plan prints what sync would do like terraform plan (repositories to
// create and change with each setting old -> new, images to copy or present, totals);
// --detailed-exitcode exits 3 when there are changes and 0 when none; `tmsync report`
// renders the same view from the saved report.
func TestPlanView(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/ledger", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
	}
	b.push(images, 900, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images[:1], nil)
	tags := filepath.Join(b.dir, "tags.json")
	must(t, os.WriteFile(tags, []byte(`[{"Key":"Owner","Value":"platform"}]`), 0o644))
	tagFlag := "--trg_resource_tags_file_path=" + tags
	if code, _ := b.run(b.args(rel, tagFlag)); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, b.errorLog())
	}
	// The tag changes and a second image comes.
	must(t, os.WriteFile(tags, []byte(`[{"Key":"Owner","Value":"payments"}]`), 0o644))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	code, out := b.run(withMode(b.args(rel, tagFlag, "--detailed-exitcode"), "plan"))
	if code != 3 {
		t.Errorf("plan with changes and --detailed-exitcode: exit %d, want 3", code)
	}
	for _, want := range []string{
		"Repositories:\n",
		"  ~ 3rdparty/tm/vault/core (change)\n      tag:Owner: platform -> payments\n",
		"  + 3rdparty/tm/vault/ledger (create)\n",
		"Images:\n",
		// The image to copy shows its size, read from its manifests (8 KiB layer + config).
		"  + copy     vault/ledger:5.0.3 sha256:" + strings.TrimPrefix(images[1].Digest, "sha256:")[:12] + " (8.",
		"  = present  vault/core:5.0.3 sha256:" + strings.TrimPrefix(images[0].Digest, "sha256:")[:12],
		"Plan: 1 repositories to create, 1 to change, 0 unchanged; 1 images to copy (8.",
		" KiB), 1 present, 0 rejected, 0 failed.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	// The same view from the saved report.
	code, view, _ := runCLI(t, "report", "--detailed-exitcode", filepath.Join(b.dir, "report.json"))
	if code != 3 {
		t.Errorf("report --detailed-exitcode of a plan with changes: exit %d, want 3", code)
	}
	start := strings.Index(out, "tmsync plan: release")
	if start < 0 || !strings.HasPrefix(out[start:], view) {
		t.Errorf("report renders another view than plan printed:\n%s", view)
	}
	// Without the flag, a plan with changes exits 0.
	if code, _ := b.run(withMode(b.args(rel, tagFlag), "plan")); code != 0 {
		t.Errorf("plan without --detailed-exitcode: exit %d, want 0", code)
	}
	// Applied: nothing pending.
	if code, _ := b.run(b.args(rel, tagFlag)); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, b.errorLog())
	}
	code, out = b.run(withMode(b.args(rel, tagFlag, "--detailed-exitcode"), "plan"))
	if code != 0 || !strings.Contains(out, "Plan: 0 repositories to create, 0 to change, 2 unchanged; 0 images to copy, 2 present") {
		t.Errorf("plan after sync: exit %d, want 0 and nothing to do", code)
	}
	// A file that is not a report says so.
	notReport := filepath.Join(b.dir, "other.json")
	must(t, os.WriteFile(notReport, []byte(`{"hello":"world"}`), 0o644))
	code, _, stderr := runCLI(t, "report", notReport)
	if code != 2 || !strings.Contains(stderr, "not a tmsync report") {
		t.Errorf("report of a non-report: exit %d, %q", code, stderr)
	}
}

// TestPlanRegistryTarget: on a plain registry, which makes repositories on the first push
// and has no settings, the plan says so for each repository instead of "= unchanged"
// (a repository that does not exist yet is not unchanged).
func TestPlanRegistryTarget(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, _ := r.release(2, 61)
	code, out := r.run(withMode(r.args(rel), "plan"))
	if code != 0 {
		t.Fatalf("plan: exit %d", code)
	}
	if strings.Contains(out, "(unchanged)") || !strings.Contains(out, "  . "+trgPrefix+"/vault/svc-00 (the registry makes it on the first push; no settings)") ||
		!strings.Contains(out, "Plan: 0 repositories to create, 0 to change, 0 unchanged, 2 made by the registry on push; 2 images to copy") {
		t.Errorf("the plan of a registry target:\n%s", out)
	}
	if rep := r.report(); len(rep.Repositories) != 2 || !rep.Repositories[0].OnPush || rep.Repositories[0].Created {
		t.Errorf("report repositories %+v, want 2 made on push", rep.Repositories)
	}
}
