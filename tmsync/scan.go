package tmsync

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// severityRank orders ECR finding severities; a gate at one level fails on it and above.
var severityRank = map[string]int{"INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}

// scanReader reads an image's scan findings (*ECRTarget).
type scanReader interface {
	ScanFindings(ctx context.Context, repo string, d digest.Digest, wait time.Duration) (map[string]int, string, error)
}

// scanGate waits for the scan of every image copied or present, records the counts, and
// fails images with findings at or above failOn.
func scanGate(ctx context.Context, t scanReader, rep *Report, wait time.Duration, failOn string, console *Console) {
	limit := severityRank[strings.ToUpper(failOn)]
	for i := range rep.Images {
		im := &rep.Images[i]
		if (im.Outcome != OutcomeCopied && im.Outcome != OutcomePresent) || im.Digest == "" {
			continue
		}
		counts, status, err := t.ScanFindings(ctx, im.Repository, digest.Digest(im.Digest), wait)
		im.ScanStatus = status
		if err != nil {
			im.Outcome, im.Step, im.Reason = OutcomeFailed, "scan", fmt.Sprintf("waiting for the scan: %v", err)
			console.Event(Event{Kind: "error", Image: im.Dest, Message: im.Reason})
			continue
		}
		im.Scan = counts
		if limit == 0 {
			continue
		}
		if counts == nil {
			// FAILED, UNSUPPORTED_IMAGE, ...: a gate that cannot see the findings does not pass.
			im.Outcome, im.Step = OutcomeFailed, "scan"
			im.Reason = fmt.Sprintf("scan status %s: no findings to check against the gate (%s and above)", status, strings.ToUpper(failOn))
			console.Event(Event{Kind: "error", Image: im.Dest, Message: im.Reason})
			continue
		}
		var over []string
		for sev, n := range counts {
			if r := severityRank[strings.ToUpper(sev)]; r >= limit && n > 0 {
				over = append(over, fmt.Sprintf("%d %s", n, sev))
			}
		}
		sort.Strings(over)
		if len(over) > 0 {
			im.Outcome, im.Step = OutcomeFailed, "scan"
			im.Reason = fmt.Sprintf("scan %s: %s found (gate: %s and above)", strings.ToLower(status), strings.Join(over, ", "), strings.ToUpper(failOn))
			console.Event(Event{Kind: "error", Image: im.Dest, Message: im.Reason})
		}
	}
}
