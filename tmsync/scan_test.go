package tmsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fakeScans answers ScanFindings from a table by repository.
type fakeScans map[string]struct {
	counts map[string]int
	status string
	err    error
}

func (f fakeScans) ScanFindings(_ context.Context, repo string, _ digest.Digest, _ time.Duration) (map[string]int, string, error) {
	r := f[repo]
	return r.counts, r.status, r.err
}

// scanTarget is a Target that reads scan findings from fakeScans.
type scanTarget struct {
	fakeTargetForRedact
	fakeScans
}

func TestScanGate(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	scans := fakeScans{
		"clean":       {counts: map[string]int{}, status: "COMPLETE"},
		"low":         {counts: map[string]int{"LOW": 3, "MEDIUM": 1}, status: "COMPLETE"},
		"critical":    {counts: map[string]int{"CRITICAL": 2, "LOW": 1}, status: "COMPLETE"},
		"unsupported": {status: "UNSUPPORTED_IMAGE"},
		"slow":        {status: "IN_PROGRESS", err: errors.New("image scan not complete: IN_PROGRESS after 1s")},
	}
	for _, tc := range []struct {
		failOn Severity
		failed map[string]string // repository -> reason fragment
	}{
		{"", map[string]string{"slow": "waiting for the scan: image scan not complete"}},
		{"HIGH", map[string]string{"critical": "scan complete: 2 CRITICAL found (gate: HIGH and above)",
			"unsupported": "scan status UNSUPPORTED_IMAGE: no findings to check", "slow": "waiting for the scan"}},
		{"medium", map[string]string{"low": "1 MEDIUM found (gate: MEDIUM and above)", "critical": "2 CRITICAL found",
			"unsupported": "UNSUPPORTED_IMAGE", "slow": "waiting for the scan"}},
	} {
		t.Run("gate "+string(tc.failOn), func(t *testing.T) {
			rep := &Report{}
			for _, repo := range []string{"clean", "low", "critical", "unsupported", "slow"} {
				rep.Images = append(rep.Images, ImageRecord{Dest: repo + ":1", Repository: repo, Digest: d, Outcome: OutcomeCopied})
			}
			// Images not in the target are not looked at.
			rep.Images = append(rep.Images, ImageRecord{Dest: "rejected:1", Repository: "critical", Digest: d, Outcome: OutcomeRejected, Reason: "no"})
			var out bytes.Buffer
			e, err := New(scanTarget{fakeScans: scans}, fakeAttestorForRedact{}, WithScanGate(time.Second, tc.failOn),
				WithObserver(ObserverFunc(func(e Event) {
					if e.Kind == EventError {
						fmt.Fprintf(&out, "ERROR: %s: %s\n", e.Image, e.Message)
					}
				})))
			if err != nil {
				t.Fatal(err)
			}
			(&run{Engine: e, o: &e.opts, rep: rep}).scanGate(context.Background())
			for _, im := range rep.Images[:5] {
				want, fails := tc.failed[im.Repository]
				switch {
				case fails && (im.Outcome != OutcomeFailed || im.Step != "scan" || !strings.Contains(im.Reason, want)):
					t.Errorf("%s: %s %s %q, want failed by the scan: %q", im.Dest, im.Outcome, im.Step, im.Reason, want)
				case fails && !strings.Contains(out.String(), "ERROR: "+im.Dest+": "):
					t.Errorf("%s: no ERROR line on the console:\n%s", im.Dest, out.String())
				case !fails && im.Outcome != OutcomeCopied:
					t.Errorf("%s: %s (%s), want copied", im.Dest, im.Outcome, im.Reason)
				}
				if im.ScanStatus != scans[im.Repository].status {
					t.Errorf("%s: scan status %q, want %q", im.Dest, im.ScanStatus, scans[im.Repository].status)
				}
			}
			if got := rep.Images[2].Scan; got["CRITICAL"] != 2 || got["LOW"] != 1 {
				t.Errorf("counts %v not recorded", got)
			}
			if r := rep.Images[5]; r.Outcome != OutcomeRejected || r.Scan != nil {
				t.Errorf("a rejected image was scanned: %+v", r)
			}
		})
	}
}
