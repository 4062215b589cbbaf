package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/faultproxy"
)

// TestDefaultFilesFromTheReleaseFolder: as in the old pipeline, which ran in the folder
// holding the release, the attestor key's default name is read from the release folder;
// a missing one is named by its absolute path.
func TestDefaultFilesFromTheReleaseFolder(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, _ := r.release(1, 21)
	args := without(r.args(rel), "--src_attestor")
	code, out := r.run(args)
	if code != 2 || !strings.Contains(out, "reading the attestor key --src_attestor "+filepath.Join(rel, "src_attestor.pgp")+": no such file or directory") {
		t.Fatalf("no key in the release folder: exit %d, want 2 naming %s", code, filepath.Join(rel, "src_attestor.pgp"))
	}
	key, err := os.ReadFile(r.keyFile)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(rel, "src_attestor.pgp"), key, 0o644))
	if code, _ := r.run(args); code != 0 {
		t.Fatalf("key in the release folder: exit %d, want 0", code)
	}
}
