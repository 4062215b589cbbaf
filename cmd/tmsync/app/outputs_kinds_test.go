package app

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCheckOutputsFileKinds: an output path that is not a regular file or a new name is
// refused before the run (exit 2, the flag and the path named): a FIFO, a character
// device (/dev/null), a symbolic link (to a file, a folder, nothing, or /dev/stdout's
// link to the console), since the atomic rename would replace the link or the device
// rather than write to it. Two outputs that reach one file through a linked folder or
// "..", or an output that reaches an input that way, are caught as one file. A regular
// file or a new name in a linked folder is taken.
func TestCheckOutputsFileKinds(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	must(t, os.MkdirAll(out, 0o755))
	must(t, os.Symlink(out, filepath.Join(dir, "linked")))    // a folder reached through a link
	must(t, os.Symlink("../out", filepath.Join(out, "self"))) // out/self -> out, relative
	must(t, os.WriteFile(filepath.Join(out, "real.json"), []byte("{}"), 0o644))
	must(t, os.Symlink("real.json", filepath.Join(out, "link.json")))
	must(t, os.Symlink("nowhere.json", filepath.Join(out, "dangling.json")))
	must(t, os.Symlink(out, filepath.Join(dir, "dirlink.json")))
	must(t, syscall.Mkfifo(filepath.Join(out, "fifo"), 0o644))
	must(t, os.WriteFile(filepath.Join(out, "key.pgp"), []byte("key"), 0o644))
	must(t, os.Symlink(filepath.Join(out, "key.pgp"), filepath.Join(dir, "keylink.pgp")))
	errorLog := filepath.Join(dir, "sync-error.log")

	for _, c := range []struct {
		name string
		a    Args
		want string // "" taken
	}{
		{"a new name", Args{Report: filepath.Join(out, "r.json")}, ""},
		{"a regular file", Args{Report: filepath.Join(out, "real.json")}, ""},
		{"a new name in a linked folder", Args{Report: filepath.Join(dir, "linked", "r.json")}, ""},
		{"a FIFO", Args{Report: filepath.Join(out, "fifo")},
			"--report " + filepath.Join(out, "fifo") + ": " + filepath.Join(out, "fifo") + " is a named pipe (FIFO), not a regular file: an output is written whole, as a new file renamed over its path; give a file name"},
		{"/dev/null", Args{JUnit: "/dev/null"}, "--junit /dev/null: /dev/null is a character device, not a regular file"},
		{"/dev/stdout", Args{Report: "/dev/stdout"}, "--report /dev/stdout: /dev/stdout is a symbolic link to /proc/self/fd/1"},
		{"a link to a file", Args{Report: filepath.Join(out, "link.json")},
			filepath.Join(out, "link.json") + " is a symbolic link to real.json: an output is written whole, as a new file renamed over its path, which would replace the link, not write to it; give the file's own path"},
		{"a dangling link", Args{JUnit: filepath.Join(out, "dangling.json")}, "is a symbolic link to nowhere.json (which does not exist)"},
		{"a link to a folder", Args{Report: filepath.Join(dir, "dirlink.json")}, "is a symbolic link to " + out + " (a folder)"},
		{"the error log a link", Args{ErrorLog: filepath.Join(out, "link.json")}, "--error-log " + filepath.Join(out, "link.json") + ": "},
		{"one file through a linked folder", Args{Report: filepath.Join(out, "r.json"), JUnit: filepath.Join(dir, "linked", "r.json")},
			"--junit " + filepath.Join(dir, "linked", "r.json") + ": the same file as --report (" + filepath.Join(out, "r.json") + ")"},
		{"one file through a relative link", Args{Report: filepath.Join(out, "self", "r.json"), SaveAttestationBundle: filepath.Join(out, "r.json")},
			"--save-attestation-bundle " + filepath.Join(out, "r.json") + ": the same file as --report"},
		{"one file through ..", Args{Report: filepath.Join(out, "r.json"), JUnit: filepath.Join(dir, "linked", "..", "out", "r.json")},
			"the same file as --report"},
		{"the error log through a linked folder", Args{ErrorLog: filepath.Join(dir, "linked", "sync-error.log"), Report: filepath.Join(out, "sync-error.log")},
			"--report " + filepath.Join(out, "sync-error.log") + ": the same file as --error-log"},
		{"the key through a linked folder", Args{AttestorKeyFile: filepath.Join(out, "key.pgp"), Report: filepath.Join(dir, "linked", "key.pgp")},
			"it is the --src_attestor file: an output would overwrite it"},
		{"the key given as a link", Args{AttestorKeyFile: filepath.Join(dir, "keylink.pgp"), Report: filepath.Join(out, "key.pgp")},
			"it is the --src_attestor file: an output would overwrite it"},
		{"the release folder through a link", Args{ReleaseDir: filepath.Join(dir, "linked"), ReleasePostfix: "release.json", Report: filepath.Join(out, "x_release.json")},
			"a file of the release folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := c.a
			if a.ErrorLog == "" {
				a.ErrorLog = errorLog
			}
			_, err := checkOutputs(a, exportArgs{})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("taken, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q\nwant %q", err, c.want)
			}
		})
	}
	// Nothing was written through a link or into the FIFO's place.
	if b, _ := os.ReadFile(filepath.Join(out, "real.json")); string(b) != "{}" {
		t.Errorf("real.json changed: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(out, "link.json")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link.json is no longer a link: %v %v", fi, err)
	}
}
