package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/tmsync"
)

// TestWriteReportsFailures: an output that cannot be written at the end of a run (its
// folder gone, here) is a line of the error log naming the file, never its temporary
// file, and the exit status is at least 1, even for a run whose images all passed; the
// error log itself unwritable is said on the console, exit at least 1.
func TestWriteReportsFailures(t *testing.T) {
	dir := t.TempDir()
	gone := filepath.Join(dir, "gone")
	clean := &tmsync.Report{Mode: tmsync.ModeSync, Summary: tmsync.Summary{Images: 1, Copied: 1},
		Images: []tmsync.ImageRecord{{Dest: "vault/core:1", Outcome: tmsync.OutcomeCopied}}}
	failed := &tmsync.Report{Mode: tmsync.ModeSync, Summary: tmsync.Summary{Images: 1, Failed: 1},
		Images: []tmsync.ImageRecord{{Dest: "vault/core:1", Outcome: tmsync.OutcomeFailed, Step: "copy", Reason: "boom"}}}
	for _, c := range []struct {
		name       string
		rep        *tmsync.Report
		a          Args
		bundle     bool
		wantStatus int
		wantLines  []string // in the error log, in order
	}{
		{name: "all written", rep: clean, a: Args{Report: filepath.Join(dir, "r.json"), JUnit: filepath.Join(dir, "j.xml")}, wantStatus: 0},
		{name: "junit of a clean run", rep: clean, a: Args{JUnit: filepath.Join(gone, "j.xml")}, wantStatus: 1,
			wantLines: []string{"ERROR: --junit: writing " + filepath.Join(gone, "j.xml") + ": creating a file in folder " + gone + ": no such file or directory"}},
		{name: "every output of a failed run", rep: failed, bundle: true,
			a:          Args{Report: filepath.Join(gone, "r.json"), JUnit: filepath.Join(gone, "j.xml"), SaveAttestationBundle: filepath.Join(gone, "att.json")},
			wantStatus: 1,
			wantLines: []string{"ERROR: copy failed: vault/core:1: boom",
				"ERROR: --save-attestation-bundle: writing " + filepath.Join(gone, "att.json") + ": ",
				"ERROR: --report: writing " + filepath.Join(gone, "r.json") + ": ",
				"ERROR: --junit: writing " + filepath.Join(gone, "j.xml") + ": "}},
		{name: "a folder where the report goes", rep: clean, a: Args{Report: dir}, wantStatus: 1,
			wantLines: []string{"ERROR: --report: writing " + dir + ": "}},
	} {
		errorLog := filepath.Join(dir, "sync-error.log")
		os.WriteFile(errorLog, nil, 0o644) // an earlier run's, empty: success
		var out strings.Builder
		console := &Console{W: &out, Redactor: tmsync.NewRedactor("")}
		var b *attest.Bundle
		if c.bundle {
			b = &attest.Bundle{}
		}
		status := writeReports(console, c.a, c.rep, errorLog, b)
		data, err := os.ReadFile(errorLog)
		if err != nil {
			t.Fatal(err)
		}
		log := string(data)
		lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
		if log == "" {
			lines = nil
		}
		if status != c.wantStatus || len(lines) != len(c.wantLines) {
			t.Errorf("%s: status %d, error log %q: want %d and %d lines", c.name, status, log, c.wantStatus, len(c.wantLines))
			continue
		}
		for i, want := range c.wantLines {
			if !strings.HasPrefix(lines[i], want) {
				t.Errorf("%s: error log line %d %q: want %q", c.name, i+1, lines[i], want)
			}
		}
		if (log == "") != (status == 0) {
			t.Errorf("%s: error log %q with exit status %d", c.name, log, status)
		}
		if strings.Contains(log+out.String(), ".tmp") {
			t.Errorf("%s: a temporary file is named:\n%s%s", c.name, log, out.String())
		}
		for _, l := range lines[min(1, len(lines)):] {
			if !strings.Contains(out.String(), l) {
				t.Errorf("%s: %q not on the console:\n%s", c.name, l, out.String())
			}
		}
	}

	// The error log's own folder gone: said on the console, exit 1 for a clean run.
	var out strings.Builder
	console := &Console{W: &out, Redactor: tmsync.NewRedactor("")}
	log := filepath.Join(gone, "sync-error.log")
	if status := writeReports(console, Args{}, clean, log, nil); status != 1 ||
		!strings.Contains(out.String(), "ERROR: --error-log: writing "+log+": creating a file in folder "+gone) {
		t.Errorf("error log in a missing folder: status %d, console %q: want 1 and the log named", status, out.String())
	}
}

// TestStaleErrorLogNotLeftEmpty: when the error log cannot be replaced (its folder
// read-only), the earlier run's empty log is written in place, not left to read as success.
func TestStaleErrorLogNotLeftEmpty(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes into a read-only folder")
	}
	dir := t.TempDir()
	errorLog := filepath.Join(dir, "sync-error.log")
	if err := os.WriteFile(errorLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	rep := &tmsync.Report{Mode: tmsync.ModeSync, Summary: tmsync.Summary{Images: 1, Failed: 1},
		Images: []tmsync.ImageRecord{{Dest: "vault/core:1", Outcome: tmsync.OutcomeFailed, Step: "copy", Reason: "boom"}}}
	var out strings.Builder
	status := writeReports(&Console{W: &out, Redactor: tmsync.NewRedactor("")}, Args{}, rep, errorLog, nil)
	data, _ := os.ReadFile(errorLog)
	if status != 1 || !strings.Contains(string(data), "vault/core:1: boom") {
		t.Errorf("status %d, error log %q: want 1 and the failure", status, data)
	}
}

// TestFailAfterLog: a failure found after the error log was written (export's packing)
// is added to it, after what it held; an empty log gets it too.
func TestFailAfterLog(t *testing.T) {
	dir := t.TempDir()
	for _, old := range []string{"", "ERROR: copy failed: vault/core:1: boom\n"} {
		errorLog := filepath.Join(dir, "sync-error.log")
		if err := os.WriteFile(errorLog, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		failAfterLog(&Console{W: &out, Redactor: tmsync.NewRedactor("s3cret")}, errorLog, "ERROR: packing b.tar: no space left on device (s3cret)")
		want := old + "ERROR: packing b.tar: no space left on device ([REDACTED])\n"
		if data, _ := os.ReadFile(errorLog); string(data) != want || !strings.Contains(out.String(), "no space left") {
			t.Errorf("error log %q, console %q: want %q", data, out.String(), want)
		}
	}
	var out strings.Builder
	gone := filepath.Join(dir, "gone", "sync-error.log")
	failAfterLog(&Console{W: &out, Redactor: tmsync.NewRedactor("")}, gone, "ERROR: packing b.tar: failed")
	if !strings.Contains(out.String(), "ERROR: --error-log: writing "+gone) {
		t.Errorf("console %q: want the error log named", out.String())
	}
}
