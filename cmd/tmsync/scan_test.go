package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync"
)

// TestScanGateECR runs the scan gate against moto, which scans only when asked
// (StartImageScan) and then reports one HIGH finding for every image: at HIGH the copied
// images fail, with the counts in the report; at CRITICAL, verify passes and records
// them; a gate without --scan-wait does not start.
func TestScanGateECR(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/ledger", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10},
	}
	b.push(images, 300, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	gate := func(level string) []string {
		return []string{"--trg_dst_security_scan_enabled=true", "--scan-wait", "20s", "--fail-on-severity", level}
	}

	code, out := b.run(b.args(rel, gate("HIGH")...))
	if code != 1 {
		t.Fatalf("sync with a HIGH gate: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(b.errorLog()), "\n")
	if len(lines) != 2 {
		t.Fatalf("error log %q, want a line per image", lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "ERROR: scan failed: vault/") || !strings.Contains(l, "scan complete: 1 HIGH found (gate: HIGH and above)") {
			t.Errorf("error line %q, want 'ERROR: scan failed: <image>: scan complete: 1 HIGH found (gate: HIGH and above)'", l)
		}
	}
	if !strings.Contains(out, "ERROR: vault/core:5.0.3: scan complete: 1 HIGH found") || strings.Contains(out, "[3/2]") {
		t.Errorf("the console does not show the gate's failures:\n%s", out)
	}
	rep := b.report()
	if rep.Summary.Failed != 2 || rep.Summary.Copied != 0 {
		t.Errorf("summary %+v, want 2 failed", rep.Summary)
	}
	for _, im := range rep.Images {
		if im.Outcome != tmsync.OutcomeFailed || im.Step != "scan" || im.Scan["HIGH"] != 1 || im.ScanStatus != "COMPLETE" || im.Attestation == nil {
			t.Errorf("%s: outcome %s step %s scan %v (%s), want failed by the scan with 1 HIGH", im.Dest, im.Outcome, im.Step, im.Scan, im.ScanStatus)
		}
		// The gate says the image must not be used; it was copied all the same (the scan
		// needs it in ECR), and the report says so.
		if got := b.targetDigest("3rdparty/tm/"+strings.Split(im.Dest, ":")[0], "5.0.3"); got != im.Digest {
			t.Errorf("%s: %s in ECR, want %s", im.Dest, got, im.Digest)
		}
	}

	// verify with a CRITICAL gate: the scans are done, HIGH is below the gate.
	code, _ = b.run(withMode(b.args(rel, gate("CRITICAL")...), "verify"))
	if code != 0 {
		t.Fatalf("verify with a CRITICAL gate: exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
	rep = b.report()
	for _, im := range rep.Images {
		if im.Outcome != tmsync.OutcomePresent || im.Scan["HIGH"] != 1 || im.ScanStatus != "COMPLETE" {
			t.Errorf("verify: %s: outcome %s scan %v (%s), want present with 1 HIGH", im.Dest, im.Outcome, im.Scan, im.ScanStatus)
		}
	}

	// `tmsync report` shows the counts.
	var sum strings.Builder
	if code := run(t.Context(), []string{"tmsync", "report", filepath.Join(b.dir, "report.json")}, &sum, &sum); code != 0 {
		t.Fatalf("report: exit %d\n%s", code, sum.String())
	}
	if !strings.Contains(sum.String(), "[scan complete: 1 HIGH]") {
		t.Errorf("report summary has no scan counts:\n%s", sum.String())
	}

	// A gate with nothing to gate on is a mistake in the flags.
	if code, out := b.run(b.args(rel, "--fail-on-severity", "HIGH")); code != 2 || !strings.Contains(out, "--fail-on-severity needs --scan-wait") {
		t.Errorf("--fail-on-severity without --scan-wait: exit %d, want 2 and a reason", code)
	}
}
