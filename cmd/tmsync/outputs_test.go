package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestOutputFilesCheckedAtStart: an output file (--error-log, --report, --junit,
// --save-attestation-bundle) that cannot be written stops sync, plan, verify and export
// with exit 2 before anything is pulled or created, the flag and its absolute folder
// named on the console and in the error log (unless the error log is the bad one: then
// no error log anywhere). A report whose folder goes away during the run is said in the
// error log at the end, exit 1: the log is empty exactly when the exit status is 0.
func TestOutputFilesCheckedAtStart(t *testing.T) {
	b := newBed(t)
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10}}
	b.push(images, 3, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	t.Setenv("TM_TOKEN", b.token)
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	errLog := filepath.Join(b.dir, "sync-error.log")

	aFile := filepath.Join(b.dir, "a-file")
	must(t, os.WriteFile(aFile, []byte("x"), 0o644))
	outDir := filepath.Join(b.dir, "out")
	must(t, os.Mkdir(outDir, 0o755))
	// A folder no file can be created in: chmod does not stop root, /sys does.
	readOnly := "/sys"
	if os.Getuid() != 0 {
		readOnly = filepath.Join(b.dir, "read-only")
		must(t, os.Mkdir(readOnly, 0o555))
	}
	cwd, err := os.Getwd()
	must(t, err)
	relMissing := "tmsync-no-such-folder-" + filepath.Base(b.dir)

	for _, c := range []struct {
		name, cmd, flag, value string
		want                   string // on the console and in the error log, with the flag and value
	}{
		{"missing folder", "sync", "--report", "/proc/nope/report.json", "folder /proc/nope does not exist"},
		{"missing folder in a temp dir", "sync", "--junit", filepath.Join(b.dir, "nope", "j.xml"), "folder " + filepath.Join(b.dir, "nope") + " does not exist"},
		{"a file as folder", "sync", "--report", filepath.Join(aFile, "report.json"), "folder " + aFile + " is a file, not a folder"},
		{"under a file", "sync", "--report", filepath.Join(aFile, "sub", "report.json"), "folder " + filepath.Join(aFile, "sub") + ": a part of it is a file"},
		{"read-only folder", "sync", "--junit", filepath.Join(readOnly, "j.xml"), "cannot create a file in folder " + readOnly + ": permission denied"},
		{"relative", "sync", "--report", relMissing + "/report.json", "folder " + filepath.Join(cwd, relMissing) + " does not exist"},
		{"trailing slash", "sync", "--report", outDir + "/", "names a folder (" + outDir + ")"},
		{"relative trailing slash", "sync", "--report", relMissing + "/", "names a folder (" + filepath.Join(cwd, relMissing) + ")"},
		{"a folder", "sync", "--junit", outDir, outDir + " is a folder"},
		{"attestation bundle", "sync", "--save-attestation-bundle", "/proc/nope/att.json", "folder /proc/nope does not exist"},
		{"report is the error log", "sync", "--report", errLog, "the same file as --error-log (" + errLog + ")"},
		{"report over the key", "sync", "--report", b.keyFile, "it is the --src_attestor file: an output would overwrite it"},
		{"junit over the key, relative", "plan", "--junit", mustRel(t, cwd, b.keyFile), "it is the --src_attestor file"},
		{"report named as a release file", "sync", "--report", filepath.Join(rel, "6.0.0_release.json"), "a file of the release folder (its name ends with release.json)"},
		{"plan", "plan", "--report", filepath.Join(aFile, "plan.json"), "folder " + aFile + " is a file, not a folder"},
		{"verify", "verify", "--junit", "/proc/nope/j.xml", "folder /proc/nope does not exist"},
		{"export", "export", "--report", "/proc/nope/report.json", "folder /proc/nope does not exist"},
	} {
		os.Remove(errLog)
		args := withCommand(b.args(rel, c.flag, c.value), c.cmd)
		if c.cmd == "export" {
			args = exportArgs(append(args, "--to", filepath.Join(b.dir, "bundle")))
		}
		code, out := b.run(args)
		want := c.flag + " " + c.value + ": " + c.want
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want 2 and %q on the console:\n%s", c.name, code, want, out)
		}
		if log, err := os.ReadFile(errLog); err != nil || !strings.Contains(string(log), want) {
			t.Errorf("%s: error log %q (%v): want %q", c.name, log, err, want)
		}
		if _, err := os.Stat(filepath.Join(b.dir, "bundle")); err == nil {
			t.Errorf("%s: export wrote a bundle", c.name)
		}
	}
	if _, err := os.Stat(relMissing); err == nil {
		t.Errorf("folder %s was created", relMissing)
	}

	// The error log itself: said on the console, no error log anywhere.
	os.Remove(errLog)
	bad := "/proc/nope/err.log"
	code, out := b.run(withFlag(b.args(rel), "--error-log", bad))
	if want := "--error-log " + bad + ": folder /proc/nope does not exist"; code != 2 || !strings.Contains(out, want) {
		t.Errorf("bad --error-log: exit %d, want 2 and %q:\n%s", code, want, out)
	}
	if strings.Contains(out, ".tmp") {
		t.Errorf("the console names a temporary file:\n%s", out)
	}
	if _, err := os.Stat(errLog); err == nil {
		t.Error("a bad --error-log wrote sync-error.log")
	}

	// Nothing was created in the target by any of them.
	repos, err := ecrc.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
	must(t, err)
	if len(repos.Repositories) != 0 {
		t.Fatalf("%d repositories created by runs refused for their output files", len(repos.Repositories))
	}

	// The report's folder is removed while the image is copied: the sync finishes, the
	// error log says the report could not be written (naming it, not its temporary
	// file), exit 1.
	reportDir := filepath.Join(b.dir, "reports")
	must(t, os.Mkdir(reportDir, 0o755))
	report := filepath.Join(reportDir, "report.json")
	var console bytes.Buffer
	w := &onLine{w: &console, prefix: "INFO: [1/1]", do: func() { os.RemoveAll(reportDir) }}
	code = run(context.Background(), withFlag(b.args(rel), "--report", report), w, w)
	t.Logf("sync with its report folder removed: exit %d\n%s", code, console.String())
	if !w.done {
		t.Fatal("the image's line never came: the folder was not removed during the run")
	}
	log := b.errorLog()
	if code != 1 || !strings.Contains(log, "ERROR: --report: writing "+report+": ") || strings.Contains(log, ".tmp") {
		t.Errorf("exit %d, error log %q: want 1 and a line naming %s (not its temporary file)", code, log, report)
	}
	if got := b.targetDigest("3rdparty/tm/vault/core", "5.0.3"); got != images[0].Digest {
		t.Errorf("target has %s, want %s", got, images[0].Digest)
	}

	// Good paths, relative ones among them: the same sync is exit 0 with an empty log.
	must(t, os.Mkdir(reportDir, 0o755))
	code, _ = b.run(withFlag(b.args(rel, "--junit", filepath.Join(outDir, "j.xml")), "--report", report))
	if log := b.errorLog(); code != 0 || log != "" {
		t.Errorf("good outputs: exit %d, error log %q: want 0 and empty", code, log)
	}
	if _, err := os.Stat(report); err != nil {
		t.Errorf("report not written: %v", err)
	}
}

// onLine is a writer that calls do once, when a line starting with prefix is written.
type onLine struct {
	mu     sync.Mutex
	w      *bytes.Buffer
	prefix string
	do     func()
	done   bool
}

func (o *onLine) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done && bytes.Contains(p, []byte(o.prefix)) {
		o.done = true
		o.do()
	}
	return o.w.Write(p)
}

func mustRel(t *testing.T, base, p string) string {
	t.Helper()
	r, err := filepath.Rel(base, p)
	must(t, err)
	return r
}
