package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tmsync/tmsync/internal/faultproxy"
)

// TestSecondSignalStopsAtOnce: a sync held mid-copy (every blob download of the source
// stalls) whose wind-down cannot end (its console is a pipe nobody reads any more, as
// `tmsync sync | less` left paused) is sent SIGINT, then SIGINT again. The first one is
// said on stderr (the console held by its pipe does not hold that line back). The second
// one stops the process at once: exit 130, a line on stderr that says what is lost, the
// error log says the run was stopped (it is never empty on a status other than 0), an
// earlier run's report and JUnit file are removed (they would read as this run's), and no
// half-written temporary file is left.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{StallRate: 1, Stall: 10 * time.Minute, Match: faultproxy.IsBlobDownload})
	rel, _ := r.release(3, 700)
	report, junit := filepath.Join(r.dir, "report.json"), filepath.Join(r.dir, "junit.xml")
	must(t, os.WriteFile(report, []byte(`{"summary":{"failed":0},"stale":true}`), 0o644))
	must(t, os.WriteFile(junit, []byte(`<testsuites failures="0"></testsuites>`), 0o644))
	args := r.args(rel, "--concurrency", "1", "--idle-timeout", "10m", "--junit", junit)

	pr, pw, err := os.Pipe()
	must(t, err)
	defer pr.Close()
	cmd := exec.Command(os.Args[0], args[1:]...)
	tmp := tempDirsEnv(t)
	cmd.Env = append(append(os.Environ(), "TMSYNC_TEST_MAIN=1"), tmp.env()...)
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	// The test fills the pipe through a descriptor of its own that does not block (a
	// write that blocked would hold the test); tmsync's stays blocking, as a console is.
	flood, err := syscall.Open(fmt.Sprintf("/proc/self/fd/%d", pw.Fd()), syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	must(t, err)
	defer syscall.Close(flood)
	pw.Close()
	fill := func() {
		filler := bytes.Repeat([]byte("#"), 4096)
		for {
			if _, err := syscall.Write(flood, filler); err != nil {
				return // EAGAIN: full
			}
		}
	}
	exited, code := make(chan struct{}), 0 // code: set before exited is closed
	go func() {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()

	// The console is read until the copy stalls.
	var out strings.Builder
	var outMu sync.Mutex
	var stopReading atomic.Bool
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for !stopReading.Load() {
			n, err := pr.Read(buf)
			outMu.Lock()
			out.Write(buf[:n])
			outMu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	console := func() string { outMu.Lock(); defer outMu.Unlock(); return out.String() }
	for deadline := time.Now().Add(90 * time.Second); r.src.Stats().Stalls == 0; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("tmsync exited (%d) before its copy stalled:\n%s%s", code, console(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blob download stalled:\n%s", console())
		}
	}
	// Then nobody reads it: the pipe is filled, and tmsync's next console line blocks.
	stopReading.Store(true)
	fill() // the reader takes one more chunk and stops
	<-readDone
	fill()

	must(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-exited:
		t.Fatalf("the run wound down by itself after the first SIGINT (exit %d): the test did not hold it\n%s", code, stderr.String())
	case <-time.After(1500 * time.Millisecond):
	}
	// The run's temporary store and blob info cache are there, to be removed by the stop.
	if tmp.runFolders() == 0 {
		t.Errorf("no temporary folder of the run under %s, %s: the check below proves nothing", tmp.disk, tmp.mem)
	}
	sentAt := time.Now()
	must(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("a second SIGINT did not stop tmsync within 10s\nstderr:\n%s", stderr.String())
	}
	took := time.Since(sentAt)
	t.Logf("FIGURES second SIGINT: exit %d %s after it", code, took.Round(time.Millisecond))
	if code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	if took > 5*time.Second {
		t.Errorf("took %s to stop after the second SIGINT", took)
	}
	if !strings.Contains(stderr.String(), "ERROR: second SIGINT: stopping now") || !strings.Contains(stderr.String(), "the report is not written") {
		t.Errorf("stderr lacks the second SIGINT's line:\n%s", stderr.String())
	}
	first := strings.Index(stderr.String(), "WARNING: SIGINT received: stopping: what is copying is cut, nothing more starts, then the report and error log are written; press Ctrl-C again")
	if first < 0 || first > strings.Index(stderr.String(), "ERROR: second SIGINT") || strings.Count(stderr.String(), "WARNING: SIGINT received") != 1 {
		t.Errorf("stderr lacks the first SIGINT's line, once, before the second's:\n%s", stderr.String())
	}
	log := r.errorLog()
	t.Logf("stderr:\n%s\nerror log:\n%s", stderr.String(), log)
	if strings.TrimSpace(log) == "" || !strings.Contains(log, "second SIGINT") {
		t.Errorf("error log %q: want a line saying the run was stopped by a second SIGINT", log)
	}
	for _, p := range []string{report, junit} {
		if _, err := os.Lstat(p); err == nil {
			b, _ := os.ReadFile(p)
			t.Errorf("%s of an earlier run left after the stop: %s", p, b)
		}
	}
	entries, err := os.ReadDir(r.dir)
	must(t, err)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("a temporary file left: %s", e.Name())
		}
	}
	// The temporary blob store and cache would be left behind (gigabytes, in a real
	// run): the run's own clean-up did not run.
	tmp.noRunLeft(t)
	r.noSecrets(stderr.String())
}

// tempDirs are a child tmsync's TMPDIR and XDG_RUNTIME_DIR, new for it, so that what it
// leaves in them can be seen.
type tempDirs struct{ disk, mem string }

func tempDirsEnv(t *testing.T) tempDirs {
	return tempDirs{disk: t.TempDir(), mem: t.TempDir()}
}

func (d tempDirs) env() []string { return []string{"TMPDIR=" + d.disk, "XDG_RUNTIME_DIR=" + d.mem} }

// runFolders counts the temporary folders of a run in them (a store, a blob info cache, a
// bundle's extraction, or the run's folder holding them).
func (d tempDirs) runFolders() int {
	n := 0
	for _, dir := range []string{d.disk, d.mem} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			for _, p := range []string{"tmsync-run-", "tmsync-blobs-", "tmsync-blob-info-", "tmsync-bundle-"} {
				if strings.HasPrefix(e.Name(), p) {
					n++
				}
			}
		}
	}
	return n
}

// noRunLeft fails t when a run's temporary folder is left in them.
func (d tempDirs) noRunLeft(t *testing.T) {
	t.Helper()
	if n := d.runFolders(); n > 0 {
		for _, dir := range []string{d.disk, d.mem} {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				t.Errorf("left in %s: %s", dir, e.Name())
			}
		}
	}
}
