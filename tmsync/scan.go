package tmsync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// scanReader is the capability of a target that reads an image's scan findings
// (*ECRTarget); WithScanGate needs it.
type scanReader interface {
	ScanFindings(ctx context.Context, repo string, d digest.Digest, wait time.Duration) (map[string]int, string, error)
}

// scanRunner is a scanReader that keeps what it learns within one run (*ECRTarget: that
// ECR refused to start a scan in a repository): the scan gate reads a run's scans through
// scanRun's.
type scanRunner interface {
	scanRun() scanReader
}

// scanGate waits for the scan of every image copied or present, records the counts, and
// fails images with findings at or above the gate's severity (WithScanGate).
func (r *run) scanGate(ctx context.Context) {
	t := r.target.(scanReader) // New checked it
	if sr, ok := t.(scanRunner); ok {
		t = sr.scanRun()
	}
	failOn := r.o.scanFailOn
	limit := failOn.rank()
	// cause "": the error's (ClassifyError).
	fail := func(im *ImageRecord, reason string, err error, cause Cause) {
		im.Outcome, im.Step, im.Reason, im.err = OutcomeFailed, "scan", reason, err
		im.Cause = cause
		if cause == "" {
			im.Cause = ClassifyError(err)
		}
		r.o.observer.Event(Event{Kind: EventError, Image: im.Dest, Message: im.Reason})
		r.o.logger.Error(im.Reason, "image", im.Dest)
	}
	for i := range r.rep.Images {
		im := &r.rep.Images[i]
		if (im.Outcome != OutcomeCopied && im.Outcome != OutcomePresent) || im.Digest == "" {
			continue
		}
		counts, status, err := t.ScanFindings(ctx, im.Repository, digest.Digest(im.Digest), r.o.scanWait)
		im.ScanStatus = status
		if err != nil {
			err = fmt.Errorf("waiting for the scan: %w", err)
			fail(im, err.Error(), err, "")
			continue
		}
		im.Scan = counts
		if limit == 0 {
			continue
		}
		if counts == nil {
			// FAILED, UNSUPPORTED_IMAGE, ...: a gate that cannot see the findings does not pass.
			reason := fmt.Sprintf("scan status %s: no findings to check against the gate (%s and above)", status, strings.ToUpper(string(failOn)))
			fail(im, reason, errors.New(reason), CauseScanUnavailable)
			continue
		}
		var over []string
		for sev, n := range counts {
			if Severity(sev).rank() >= limit && n > 0 {
				over = append(over, fmt.Sprintf("%d %s", n, sev))
			}
		}
		sort.Strings(over)
		if len(over) > 0 {
			reason := fmt.Sprintf("scan %s: %s found (gate: %s and above)", strings.ToLower(status), strings.Join(over, ", "), strings.ToUpper(string(failOn)))
			fail(im, reason, errors.New(reason), CauseScanFindings)
		}
	}
}
