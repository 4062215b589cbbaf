package tmsync

import (
	"fmt"
	"strings"
)

// The string types below are tmsync's closed sets of values. Each is a string in JSON
// (the report schema is unchanged) and in events; the ones that come from text (flags,
// configuration) have a Parse function that refuses a value outside the set.

// Mode is what a run does.
type Mode string

// Modes of a run.
const (
	// ModePlan says what ModeSync would do, changing nothing.
	ModePlan Mode = "plan"
	// ModeSync verifies, provisions and copies.
	ModeSync Mode = "sync"
	// ModeVerify checks the target against the release without copying.
	ModeVerify Mode = "verify"
	// ModeExport verifies and writes a bundle (Exporter); Run does not take it.
	ModeExport Mode = "export"
)

// Valid reports whether m is one of the modes.
func (m Mode) Valid() bool { return m == ModePlan || m == ModeSync || m == ModeVerify }

// ParseMode returns the mode named s ("plan", "sync" or "verify").
func ParseMode(s string) (Mode, error) {
	if m := Mode(s); m.Valid() {
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want %s, %s or %s", s, ModePlan, ModeSync, ModeVerify)
}

// Outcome is what happened to one image.
type Outcome string

// Outcomes of an image.
const (
	OutcomeCopied   Outcome = "copied"   // copied in this run
	OutcomePresent  Outcome = "present"  // already in the target with the right digest
	OutcomePlanned  Outcome = "planned"  // plan: would be copied
	OutcomeIgnored  Outcome = "ignored"  // in the release but not named by its image lists
	OutcomeRejected Outcome = "rejected" // its attestation was checked and rejected
	OutcomeFailed   Outcome = "failed"   // something else failed
)

// EventKind says what an Event reports.
type EventKind string

// Kinds of Event.
const (
	EventBegin EventKind = "begin" // the run starts: Total images
	EventStart EventKind = "start" // an image's copy starts
	EventSkip  EventKind = "skip"  // an image is already in place
	EventDone  EventKind = "done"  // an image was copied
	EventFail  EventKind = "fail"  // an image failed (Running: its copy had started)
	EventWarn  EventKind = "warn"  // something the operator should know, the run goes on
	EventRetry EventKind = "retry" // a step failed for a temporary reason and is tried again
	EventInfo  EventKind = "info"  // progress worth a line
	// EventError is a failure found after the image's progress line (the scan gate).
	EventError EventKind = "error"
	// EventProgress is an image's copy moving: Bytes is how many of its blobs' bytes
	// have been copied so far, over all its tries. It never decreases and never exceeds
	// what was sent: a retry that sends a blob again counts only what passes the earlier
	// try's mark. At most about one a second per blob.
	EventProgress EventKind = "progress"
	// EventPlanned is the copies planned (sync and plan), before the first EventStart:
	// Total is the images to copy and Bytes the bytes their copies carry (each image's
	// blobs, a blob shared by several images counted for each; images already in place
	// not counted). An image's own size comes on its EventStart. Bytes is 0 when the
	// sizes could not be read.
	EventPlanned EventKind = "planned"
)

// BYOPolicy says what happens to an image outside the vendor registry that the vendor
// does not attest.
type BYOPolicy string

// BYO policies for images outside the vendor registry.
const (
	// BYOPinned copies an image with no attestation by the digest the release pins, and
	// reports it as not attested. An attestation that exists must still verify.
	BYOPinned BYOPolicy = "pinned"
	// BYOAttested treats upstream images like the vendor's: no attestation, no copy.
	BYOAttested BYOPolicy = "attested"
)

// ParseBYOPolicy returns the policy named s ("pinned" or "attested", in any case).
func ParseBYOPolicy(s string) (BYOPolicy, error) {
	switch p := BYOPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case BYOPinned, BYOAttested:
		return p, nil
	}
	return "", fmt.Errorf("byo policy %q: want %q or %q", s, BYOPinned, BYOAttested)
}

// Severity is an ECR scan finding's severity, for the scan gate.
type Severity string

// Severities, least severe first.
const (
	SeverityInformational Severity = "INFORMATIONAL"
	SeverityLow           Severity = "LOW"
	SeverityMedium        Severity = "MEDIUM"
	SeverityHigh          Severity = "HIGH"
	SeverityCritical      Severity = "CRITICAL"
)

// rank orders severities; 0 for one that is not a severity (ECR's UNDEFINED).
func (s Severity) rank() int {
	switch Severity(strings.ToUpper(string(s))) {
	case SeverityInformational:
		return 1
	case SeverityLow:
		return 2
	case SeverityMedium:
		return 3
	case SeverityHigh:
		return 4
	case SeverityCritical:
		return 5
	}
	return 0
}

// ParseSeverity returns the severity named s, in any case.
func ParseSeverity(s string) (Severity, error) {
	if v := Severity(strings.ToUpper(s)); v.rank() > 0 {
		return v, nil
	}
	return "", fmt.Errorf("severity %q: want one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL", s)
}
