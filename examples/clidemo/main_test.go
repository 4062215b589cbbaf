package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/cmd/tmsync/app"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync"
)

// asTmsync makes the test binary run the command line, as bin/tmsync does, when the
// keep-mode test runs the printed commands through a shell.
const asTmsync = "CLIDEMO_TEST_AS_TMSYNC"

func TestMain(m *testing.M) {
	if os.Getenv(asTmsync) == "1" {
		os.Exit(app.Run(context.Background(), os.Args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// demoDir is a demo folder whose path needs quoting in a shell.
func demoDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "demo run's")
}

// TestDemo runs `make demo`'s path: a sync that copies the release, a second one that
// copies nothing, both reports kept, the error logs empty, the first report printed, the
// files listed, exit 0; the token only in its 0600 file. A second demo into the same
// folder starts afresh.
func TestDemo(t *testing.T) {
	dir := demoDir(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), options{dir: dir, tmsync: "bin/tmsync"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if stderr.Len() != 0 {
		t.Errorf("stderr:\n%s", stderr.String())
	}

	first, err := tmsync.ReadReport(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s := first.Summary; s.Images != 3 || s.Copied != 3 || first.Mode != tmsync.ModeSync || first.Failed() {
		t.Errorf("first report: mode %s, %+v", first.Mode, s)
	}
	for _, im := range first.Images {
		if im.Outcome != tmsync.OutcomeCopied || im.Attestation == nil {
			t.Errorf("first report: %s %s, attestation %v", im.Dest, im.Outcome, im.Attestation)
		}
	}
	again, err := tmsync.ReadReport(filepath.Join(dir, "report-rerun.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s := again.Summary; s.Images != 3 || s.Copied != 0 || s.Present != 3 {
		t.Errorf("second report: %+v", s)
	}
	for _, name := range []string{"sync-error.log", "sync-error-rerun.log"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() != 0 {
			t.Errorf("%s: %v, want an empty file", name, err)
		}
	}
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(junit), "<testcase "); n != 3 || strings.Contains(string(junit), "<failure") {
		t.Errorf("junit.xml: %d test cases, want 3 and no failure:\n%s", n, junit)
	}
	for _, name := range []string{"release/5.0.3_release.json", "release/src_attestor.pgp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}

	// What the operator reads: the first run's report (3 copied), not the second's;
	// every file by its path; no event text said twice.
	if !strings.Contains(out, "images: 3: 3 copied, 0 present") {
		t.Errorf("the first report is not printed:\n%s", out)
	}
	for _, name := range []string{"sync-error.log", "report.json", "junit.xml", "report-rerun.json", "token"} {
		if !strings.Contains(out, filepath.Join(dir, name)+" ") {
			t.Errorf("%s is not listed:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "sync-error.log") || !strings.Contains(out, "empty, every image is in place") {
		t.Errorf("the error log is not said to be empty:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		for _, im := range first.Images {
			if strings.Count(line, im.Dest) > 1 {
				t.Errorf("repeated: %q", line)
			}
		}
	}
	checkToken(t, dir, out)

	// Again into the same folder: emptied first (the old report gone with it).
	if err := os.WriteFile(filepath.Join(dir, "stale.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run(context.Background(), options{dir: dir, tmsync: "bin/tmsync"}, &stdout, &stderr); code != 0 {
		t.Fatalf("second demo: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); err == nil {
		t.Error("a second demo left the first's folder as it was")
	}
	if r, err := tmsync.ReadReport(filepath.Join(dir, "report.json")); err != nil || r.Summary.Copied != 3 {
		t.Errorf("second demo's report: %v", err)
	}
}

// checkToken: the token is in dir/token (mode 0600) and nowhere else: not in out, not in
// another file of dir.
func checkToken(t *testing.T, dir, out string) {
	t.Helper()
	p := filepath.Join(dir, "token")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	token := strings.TrimSpace(string(b))
	if len(token) < 16 {
		t.Fatalf("token file holds %q", b)
	}
	if strings.Contains(out, token) {
		t.Error("the token is printed")
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == p {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(token)) {
			t.Errorf("the token is in %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeep: keep mode's printed commands run when pasted into a shell (with this test
// binary as bin/tmsync): the token from its file, plan, verify, sync, export, bundle
// verify, report; then the world stops at the end of the context.
func TestKeep(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := demoDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testbed.LockedBuffer
	ready, done := make(chan struct{}), make(chan int, 1)
	go func() {
		done <- run(ctx, options{dir: dir, keep: true, tmsync: exe, ready: func() { close(ready) }}, &stdout, &stderr)
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("keep mode ended: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("keep mode not ready:\n%s", stdout.String())
	}
	out := stdout.String()
	start, end := strings.Index(out, "export TM_TOKEN="), strings.Index(out, "(Ctrl-C here")
	if start < 0 || end < start {
		t.Fatalf("no commands printed:\n%s", out)
	}
	script := out[start:end]
	if _, ok := os.LookupEnv("TM_TOKEN"); ok {
		t.Error("keep mode left TM_TOKEN in its environment")
	}
	checkToken(t, dir, out)
	for _, cmd := range []string{"plan", "verify", "sync", "export", "bundle verify", "report"} {
		if !strings.Contains(script, exe+" "+cmd+" ") {
			t.Errorf("no %s command:\n%s", cmd, script)
		}
	}

	sh := func(script string) (string, error) {
		c := exec.Command("sh", "-ec", script)
		c.Env = append(withoutEnv(os.Environ(), "TM_TOKEN"), asTmsync+"=1")
		b, err := c.CombinedOutput()
		return string(b), err
	}
	got, err := sh(script)
	if err != nil {
		t.Fatalf("the printed commands: %v\n%s\n%s", err, script, got)
	}
	verify, err := tmsync.ReadReport(filepath.Join(dir, "verify.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s := verify.Summary; verify.Mode != tmsync.ModeVerify || s.Present != 3 || verify.Failed() {
		t.Errorf("verify report: %s %+v", verify.Mode, s)
	}
	for _, want := range []string{"Plan: 0 repositories to create", "export finished: 3 images: 3 exported", "images: 3: 3 verified, 0 refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("the commands' output has no %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bundle", "bundle.json")); err != nil {
		t.Error(err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("keep mode: exit %d\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("keep mode did not stop")
	}
	// The world is gone: the plan cannot reach it.
	plan := script[:strings.Index(script, "\n# check the target")]
	if got, err := sh(plan); err == nil {
		t.Errorf("plan after the world stopped succeeded:\n%s", got)
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}
