package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/faultproxy"
)

// TestDefaultFilesFromTheReleaseFolder: as in the old pipeline, which ran in the folder
// holding the release, the attestor key's default name is read from the release folder
// (and from the working folder: TestDocumentedReleaseLayout); a missing one is named by
// both paths, absolute.
func TestDefaultFilesFromTheReleaseFolder(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, _ := r.release(1, 21)
	t.Chdir(t.TempDir()) // a working folder without a key
	args := without(r.args(rel), "--src_attestor")
	code, out := r.run(args)
	if code != 2 || !strings.Contains(out, "reading the attestor key --src_attestor: no src_attestor.pgp in the release folder ("+filepath.Join(rel, "src_attestor.pgp")+") nor in the working folder (") {
		t.Fatalf("no key in the release folder nor in the working folder: exit %d, want 2 naming both", code)
	}
	key, err := os.ReadFile(r.keyFile)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(rel, "src_attestor.pgp"), key, 0o644))
	if code, _ := r.run(args); code != 0 {
		t.Fatalf("key in the release folder: exit %d, want 0", code)
	}
}

// TestSettingsFilesIgnoredWithRegistryTarget: with --target registry the repository
// settings files are not read, so two different copies of one (release folder and working
// folder) do not stop the run; two different keys still do.
func TestSettingsFilesIgnoredWithRegistryTarget(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, _ := r.release(1, 29)
	work := t.TempDir()
	t.Chdir(work)
	must(t, os.WriteFile(filepath.Join(rel, "ecr_lifecycle_policy.json"), []byte(`{"rules":[]}`), 0o644))
	must(t, os.WriteFile(filepath.Join(work, "ecr_lifecycle_policy.json"), []byte(`{}`), 0o644))
	if code, out := r.run(r.args(rel)); code != 0 {
		t.Fatalf("two different lifecycle files with --target registry: exit %d, want 0\n%s", code, out)
	}
	key, err := os.ReadFile(r.keyFile)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(rel, "src_attestor.pgp"), key, 0o644))
	must(t, os.WriteFile(filepath.Join(work, "src_attestor.pgp"), append(key, '\n'), 0o644))
	if code, out := r.run(without(r.args(rel), "--src_attestor")); code != 2 || !strings.Contains(out, "differ") {
		t.Fatalf("two different keys with --target registry: exit %d, want 2 naming both", code)
	}
}

// TestEmptyReleaseFolder: tmsync run in a folder without release files (the first try of
// a new operator, with every flag left out) says which folder, what files it looks for,
// and the flag that names another, without repeating the folder as ".".
func TestEmptyReleaseFolder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("TM_TOKEN", "tok-empty-folder-3c9a")
	for _, args := range [][]string{{"sync"}, {"plan", "--release-dir", "./"}} {
		code, out, errOut := runCLI(t, args...)
		all := out + errOut
		want := "release folder " + dir + ": no release files: expected files named <version>_release.json or <version>_..._images.txt"
		if code != 2 || !strings.Contains(all, want) || !strings.Contains(all, "set --release-dir") || strings.Contains(all, ": .:") {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", args, code, want, all)
		}
	}
}
