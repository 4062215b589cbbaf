package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

// TestConsoleFailureStorm: 150 copies failing (and retrying) for one cause, each message
// naming its own image, repository and digest, print a handful of console lines, not 150.
func TestConsoleFailureStorm(t *testing.T) {
	var b strings.Builder
	c := &Console{W: &b}
	c.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 150, Message: "sync: 150 images"})
	for i := range 150 {
		img := fmt.Sprintf("vault/svc-%03d:5.0.3", i)
		dig := fmt.Sprintf("sha256:%064x", i)
		c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: img, Message: "START: " + img})
		c.Event(tmsync.Event{Kind: tmsync.EventRetry, Image: img, Message: fmt.Sprintf(`copy failed, retrying in 1s: writing blob %s: Put "http://10.0.0.9:5000/v2/3rdparty/tm/vault/svc-%03d/blobs/uploads/x?digest=%s": connection reset by peer`, dig, i, dig)})
		c.Event(tmsync.Event{Kind: tmsync.EventFail, Image: img, Running: true, Message: fmt.Sprintf(`writing blob %s: Put "http://10.0.0.9:5000/v2/3rdparty/tm/vault/svc-%03d/blobs/uploads/x?digest=%s": connection reset by peer`, dig, i, dig)})
	}
	// The run's end adds two lines: its counts and the summary of the cause.
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines)+2 > 10 {
		t.Errorf("%d console lines for one cause, want at most 8 before the run's two last:\n%s", len(lines), b.String())
	}
	if !strings.Contains(b.String(), "more images fail like the ones above") {
		t.Errorf("the console does not say it stopped listing")
	}
	// Another cause is still printed, and a success ends the storm.
	c.Event(tmsync.Event{Kind: tmsync.EventFail, Image: "vault/x:1", Message: "attestation rejected"})
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/y:1", Message: "START: vault/y:1"})
	if !strings.Contains(b.String(), "vault/x:1: attestation rejected") {
		t.Errorf("a failure of another cause was not printed")
	}
}

// TestFailureSummaryByCause: failures are grouped by step and structured cause, not by
// their text: differently worded failures of one cause are one line (named by the cause,
// with an example), the same words under two causes or two steps are two.
func TestFailureSummaryByCause(t *testing.T) {
	rep := &tmsync.Report{}
	add := func(dest, step string, c tmsync.Cause, reason string) {
		rep.Images = append(rep.Images, tmsync.ImageRecord{Dest: dest, Outcome: tmsync.OutcomeFailed, Step: step, Cause: c, Reason: reason})
	}
	for i := range 4 {
		add(fmt.Sprintf("vault/a%d:1", i), "copy", tmsync.CauseUnauthorized, []string{
			"reading manifest sha256:0: unauthorized: authentication required",
			"writing blob: requested access to the resource is denied (401)",
		}[i%2])
	}
	add("vault/b:1", "copy", tmsync.CauseConnectionRefused, "dial tcp 10.0.0.9:443: connect: connection refused")
	add("vault/c:1", "lookup", tmsync.CauseConnectionRefused, "dial tcp 10.0.0.9:443: connect: connection refused")
	add("vault/d:1", "copy", tmsync.CauseOther, "boom")
	add("vault/e:1", "copy", tmsync.CauseOther, "bang")
	lines := failureSummary(rep, "/x/sync-error.log")
	t.Logf("%s", strings.Join(lines, "\n"))
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5 (unauthorized, refused in copy, refused in lookup, boom, and one more)", len(lines))
	}
	if !strings.HasPrefix(lines[0], "ERROR: 4 images failed (copy): unauthorized, e.g. reading manifest") {
		t.Errorf("the 4 unauthorized failures are not one line named by their cause: %q", lines[0])
	}
	// A report of an older tmsync (no cause): grouped by text as before.
	for i := range rep.Images {
		rep.Images[i].Cause = ""
	}
	if lines := failureSummary(rep, "/x/sync-error.log"); !strings.HasPrefix(lines[0], "ERROR: 2 images failed (copy): reading manifest") {
		t.Errorf("without causes: %q", lines)
	}
}
