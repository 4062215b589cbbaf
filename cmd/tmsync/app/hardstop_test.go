package app

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHardStop: what a second signal leaves, by how far the run got. Before the run
// wrote its outputs: the error log is replaced by one line (an earlier run's, empty or
// not, does not describe this run), the earlier run's report and JUnit file are removed
// and the stderr line says the report is not written. After: a non-empty error log is
// left as the run wrote it, an empty one (the run passed) gets a line, since the exit
// status is not 0; the run's report is kept. The status is the second signal's.
func TestHardStop(t *testing.T) {
	dir := t.TempDir()
	a := Args{ErrorLog: filepath.Join(dir, "sync-error.log"), Report: filepath.Join(dir, "r.json"), JUnit: filepath.Join(dir, "j.xml")}
	read := func(p string) (string, bool) {
		b, err := os.ReadFile(p)
		return string(b), err == nil
	}
	for _, c := range []struct {
		name             string
		written          bool   // the run wrote its report and error log
		log              string // the error log before the stop
		first, second    syscall.Signal
		wantStatus       int
		wantLog, wantOut string
		wantReport       bool
	}{
		{"mid-run, earlier log empty", false, "", syscall.SIGINT, syscall.SIGINT, 130,
			"ERROR: run stopped at once by a second SIGINT: the report and this log's lines per image were not written; a rerun finishes the images not in place\n",
			"ERROR: second SIGINT: stopping now, without winding down: the report is not written and the error log lists no image (an earlier run's " + a.Report + ", " + a.JUnit + " removed)", false},
		{"mid-run, earlier log not empty", false, "ERROR: copy failed: vault/old:1: boom\n", syscall.SIGTERM, syscall.SIGINT, 130,
			"ERROR: run stopped at once by a SIGINT after SIGTERM: ", "ERROR: SIGINT after SIGTERM: stopping now, without winding down", false},
		{"ended, failures", true, "ERROR: copy failed: vault/core:1: boom\n", syscall.SIGTERM, syscall.SIGTERM, 143,
			"ERROR: copy failed: vault/core:1: boom\n", "ERROR: second SIGTERM: stopping now; the error log was written", true},
		{"ended, all in place", true, "", syscall.SIGINT, syscall.SIGINT, 130,
			"ERROR: run stopped by a second SIGINT as it ended (exit 130)\n", "ERROR: second SIGINT: stopping now; the error log was written", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hardStop.arm(a, nil)
			for _, p := range []string{a.Report, a.JUnit, a.ErrorLog} {
				must(t, os.WriteFile(p, []byte("earlier run\n"), 0o644))
			}
			if c.written {
				must(t, writeOutputFile(a.Report, func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }))
				must(t, writeOutputFile(a.ErrorLog, func(w io.Writer) error { _, err := io.WriteString(w, c.log); return err }))
			} else {
				must(t, os.WriteFile(a.ErrorLog, []byte(c.log), 0o644))
			}
			var out strings.Builder
			status := hardStop.stop(c.first, c.second, &out)
			hardStop.writes.Unlock() // held for good by a stop: the process ends
			if status != c.wantStatus {
				t.Errorf("status %d, want %d", status, c.wantStatus)
			}
			if log, _ := read(a.ErrorLog); !strings.HasPrefix(log, c.wantLog) || strings.Count(log, "\n") != 1 {
				t.Errorf("error log %q, want %q", log, c.wantLog)
			}
			if !strings.HasPrefix(out.String(), c.wantOut) || strings.Count(out.String(), "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", out.String(), c.wantOut)
			}
			if rep, ok := read(a.Report); ok != c.wantReport || (ok && rep != "{}") {
				t.Errorf("report %q (there: %v), want there: %v, this run's", rep, ok, c.wantReport)
			}
			if _, ok := read(a.JUnit); ok != c.written {
				t.Errorf("JUnit file there: %v, want %v (an earlier run's, the run not ended: removed)", ok, c.written)
			}
		})
	}
}

// TestHardStopSparesRefusedOutputs: the outputs a hard stop removes (an earlier run's
// --report and --junit) and the error log it writes are those of a run whose outputs were
// checked: a second signal during the refusal of a --report or --junit that is the
// --config file (before the refusal's error log is written, or when none is: its folder
// is missing, or it is an input too) leaves the --config file as it is.
func TestHardStopSparesRefusedOutputs(t *testing.T) {
	dir := inputBed(t)
	disarm := func() {
		hardStop.mu.Lock()
		defer hardStop.mu.Unlock()
		hardStop.errorLog, hardStop.gates, hardStop.written, hardStop.console = "", nil, nil, nil
	}
	t.Cleanup(disarm)
	for _, args := range [][]string{
		{"sync", "--config", "c.yaml", "--report", "c.yaml", "--error-log", "nodir/e.log", "--target", "registry", "--trg-registry", "127.0.0.1:1", "--release-dir", "rel", "--skip-preflight"},
		{"plan", "--config", "c.yaml", "--junit", "./c.yaml", "--error-log", "c.yaml", "--target", "registry", "--trg-registry", "127.0.0.1:1", "--release-dir", "rel", "--skip-preflight"},
		{"verify", "--config", "c.yaml", "--report", "c.yaml", "--target", "registry", "--trg-registry", "127.0.0.1:1", "--release-dir", "rel", "--skip-preflight"},
		{"export", "--to", "out/b", "--config", "c.yaml", "--report", "c.yaml", "--error-log", "nodir/e.log", "--release-dir", "rel"},
	} {
		disarm()
		code, out, errOut := runCLI(t, args...)
		if code != 2 || !strings.Contains(out+errOut, "c.yaml: it is the --config file") {
			t.Errorf("%q: exit %d, want 2 and the refusal:\n%s", args, code, out+errOut)
		}
		var said strings.Builder
		hardStop.stop(syscall.SIGINT, syscall.SIGINT, &said)
		hardStop.writes.Unlock() // held for good by a stop: the process ends
		if b, err := os.ReadFile(filepath.Join(dir, "c.yaml")); err != nil || string(b) != "concurrency: 4\n" {
			t.Errorf("%q, then a second SIGINT (%q): the --config file is %q (%v), want it as it was", args, said.String(), b, err)
			must(t, os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("concurrency: 4\n"), 0o644))
		}
	}
}
