package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/tmsync"
)

// shardReport is the report of one shard of a run, as a sharded sync writes it.
func shardReport(index int, started time.Time, images ...tmsync.ImageRecord) *tmsync.Report {
	r := &tmsync.Report{SchemaVersion: tmsync.ReportSchemaVersion, Tool: "tmsync", Version: "v1.2.0", Mode: tmsync.ModeSync,
		Started: started, Finished: started.Add(90 * time.Second), Caller: "arn:aws:sts::123456789012:assumed-role/tmsync/codebuild",
		Target: "ecr 3rdparty/tm", Shard: &tmsync.Shard{Index: index, Count: 2},
		Releases: []tmsync.ReleaseRecord{{Version: "5.0.3", Files: []tmsync.FileRecord{{Path: "rel/5.0.3_release.json", SHA256: strings.Repeat("ab", 32)}}}},
		Images:   images}
	// Summaries are recomputed by merging; a single report carries its own.
	for _, im := range images {
		r.Summary.Images++
		switch im.Outcome {
		case tmsync.OutcomeCopied:
			r.Summary.Copied++
		case tmsync.OutcomeIgnored:
			r.Summary.Ignored++
		case tmsync.OutcomeRejected:
			r.Summary.Rejected++
		}
		r.Summary.Bytes += im.Bytes
	}
	return r
}

var (
	t0       = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	dgst     = "sha256:" + strings.Repeat("1", 64)
	ignored  = tmsync.ImageRecord{Dest: "vault/unused:5.0.3", Version: "5.0.3", Outcome: tmsync.OutcomeIgnored, Reason: "not named by 5.0.3_images.txt"}
	copied   = tmsync.ImageRecord{Dest: "vault/core:5.0.3", Version: "5.0.3", Outcome: tmsync.OutcomeCopied, Digest: dgst, Bytes: 3 << 20, Vendor: true, Attestation: &tmsync.Attestation{Occurrence: "projects/p/occurrences/1", Fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567", SignedAt: t0}}
	rejected = tmsync.ImageRecord{Dest: "vault/accounts:5.0.3", Version: "5.0.3", Outcome: tmsync.OutcomeRejected, Step: "attestation", Digest: dgst, Reason: "attestation rejected: signed by an unknown key"}
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"tmsync"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestReportCommand prints saved reports for people: what was copied, skipped, rejected
// and why, with the report's exit status; an unreadable report is exit 2.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	must(t, shardReport(0, t0, ignored, copied).WriteJSON(good))
	code, out, _ := runCLI(t, "report", good)
	if code != 0 {
		t.Errorf("report of a good run: exit %d, want 0", code)
	}
	for _, want := range []string{
		"tmsync sync v1.2.0, 2026-11-28T01:00:00Z to 2026-11-28T01:01:30Z (1m30s)",
		"caller: arn:aws:sts::123456789012:assumed-role/tmsync/codebuild",
		"release 5.0.3: 5.0.3_release.json",
		"images: 2: 1 copied, 0 present, 0 planned, 1 ignored, 0 rejected, 0 failed (0 passed without attestation); 3.0 MiB moved",
		"  copied   vault/core:5.0.3 " + dgst + " (attested by 0123456789ABCDEF0123456789ABCDEF01234567)",
		"  ignored  vault/unused:5.0.3: not named by 5.0.3_images.txt",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("report output lacks %q:\n%s", want, out)
		}
	}

	bad := filepath.Join(dir, "bad.json")
	must(t, shardReport(1, t0, rejected).WriteJSON(bad))
	code, out, _ = runCLI(t, "report", bad)
	if code != 1 || !strings.Contains(out, "  rejected vault/accounts:5.0.3 "+dgst+": attestation rejected: signed by an unknown key\n") {
		t.Errorf("report of a failed run: exit %d, want 1, and the rejection:\n%s", code, out)
	}

	// Not a report, another schema version, no such file: exit 2.
	notReport := filepath.Join(dir, "not.json")
	must(t, os.WriteFile(notReport, []byte("{"), 0o644))
	future := filepath.Join(dir, "future.json")
	must(t, os.WriteFile(future, []byte(`{"schemaVersion": 99}`), 0o644))
	for _, p := range []string{notReport, future, filepath.Join(dir, "none.json")} {
		if code, _, errOut := runCLI(t, "report", p); code != 2 || !strings.HasPrefix(errOut, "ERROR: ") {
			t.Errorf("report %s: exit %d (%q), want 2 and an ERROR line", filepath.Base(p), code, errOut)
		}
	}
	if code, _, _ := runCLI(t, "report"); code != 2 {
		t.Errorf("report without a file: exit %d, want 2", code)
	}
}

// TestReportMergeCommand merges the reports of two shards: every image once (the ignored
// image is in both), the run's span from the first start to the last end, the summary
// recomputed, the merged error log, and the merged exit status.
func TestReportMergeCommand(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "shard0.json"), filepath.Join(dir, "shard1.json")
	must(t, shardReport(0, t0.Add(5*time.Second), ignored, copied).WriteJSON(a))
	must(t, shardReport(1, t0, ignored, rejected).WriteJSON(b))
	merged, errLog := filepath.Join(dir, "merged.json"), filepath.Join(dir, "sync-error.log")
	code, _, errOut := runCLI(t, "report", "merge", "--output", merged, "--error-log", errLog, a, b)
	if code != 1 {
		t.Fatalf("merge with a rejected image: exit %d, want 1 (%s)", code, errOut)
	}
	m, err := tmsync.ReadReport(merged)
	must(t, err)
	want := tmsync.Summary{Images: 3, Copied: 1, Ignored: 1, Rejected: 1, Bytes: 3 << 20}
	if m.Summary != want {
		t.Errorf("merged summary %+v, want %+v", m.Summary, want)
	}
	if m.Shard != nil || !m.Started.Equal(t0) || !m.Finished.Equal(t0.Add(95*time.Second)) {
		t.Errorf("merged shard %v, span %s to %s; want none, 01:00:00 to 01:01:35", m.Shard, m.Started, m.Finished)
	}
	var dests []string
	for _, im := range m.Images {
		dests = append(dests, im.Dest)
	}
	if got := strings.Join(dests, " "); got != "vault/accounts:5.0.3 vault/core:5.0.3 vault/unused:5.0.3" {
		t.Errorf("merged images %s", got)
	}
	log, err := os.ReadFile(errLog)
	must(t, err)
	if string(log) != "ERROR: attestation failed: vault/accounts:5.0.3: attestation rejected: signed by an unknown key\n" {
		t.Errorf("merged error log %q", log)
	}

	// Only good shards: exit 0, empty error log.
	c := filepath.Join(dir, "shard2.json")
	must(t, shardReport(0, t0, copied).WriteJSON(c))
	if code, _, errOut := runCLI(t, "report", "merge", "--output", merged, "--error-log", errLog, c); code != 0 {
		t.Errorf("merge of good shards: exit %d (%s)", code, errOut)
	}
	if log, _ := os.ReadFile(errLog); len(log) != 0 {
		t.Errorf("merged error log of good shards %q, want empty", log)
	}
	if code, _, _ := runCLI(t, "report", "merge", "--output", merged); code != 2 {
		t.Errorf("merge of nothing: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "report", "merge", "--output", merged, filepath.Join(dir, "none.json")); code != 2 {
		t.Errorf("merge of a missing file: exit %d, want 2", code)
	}
}
