package tmsync

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/tmsync/tmsync/evidence"
)

// ReportSchemaVersion is the version of the JSON report's schema (docs/report-schema.json).
// It changes when a field changes meaning or goes away; new fields do not change it.
const ReportSchemaVersion = 1

// Report is the record of one run: what was read, verified and done, image by image.
// It holds no secret.
type Report struct {
	SchemaVersion int       `json:"schemaVersion"`
	Tool          string    `json:"tool"`
	Version       string    `json:"version"`
	Mode          Mode      `json:"mode"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	// Caller is the AWS identity the run used (STS GetCallerIdentity ARN), if known.
	Caller   string          `json:"caller,omitempty"`
	Target   string          `json:"target"`
	Shard    *Shard          `json:"shard,omitempty"`
	Releases []ReleaseRecord `json:"releases"`
	// ReleaseSHA256 is one digest over the files read from the release folder
	// (ReleaseDigest): what --release-sha256 pins.
	ReleaseSHA256 string        `json:"releaseSha256,omitempty"`
	Repositories  []Repository  `json:"repositories,omitempty"`
	Images        []ImageRecord `json:"images"`
	Summary       Summary       `json:"summary"`
	Interrupted   bool          `json:"interrupted,omitempty"`
	// Transfer is what the data path did (sync) or would do (plan).
	Transfer *Transfer `json:"transfer,omitempty"`
}

// Shard is the part of the release a sharded run owned.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ReleaseRecord is one release read from the folder.
type ReleaseRecord struct {
	Version string       `json:"version"`
	Files   []FileRecord `json:"files"`
}

// FileRecord is one file read, with its content hash.
type FileRecord struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// NotStarted: the image failed because the run was interrupted before it was started.
func (im ImageRecord) NotStarted() bool {
	return im.Outcome == OutcomeFailed && im.Reason == ReasonNotStarted
}

// ImageRecord is what happened to one image.
type ImageRecord struct {
	// Dest is "repository:tag" relative to the prefix, as the release names it.
	Dest string `json:"dest"`
	// Destination is the full destination reference.
	Destination string `json:"destination,omitempty"`
	// Source is the source reference as the release gives it.
	Source  string `json:"source"`
	Version string `json:"version"`
	Origin  string `json:"origin"`
	Vendor  bool   `json:"vendor"`
	// Digest is the manifest (or index) digest; Children the digests an index names.
	Digest   string   `json:"digest,omitempty"`
	Children []string `json:"children,omitempty"`
	Outcome  Outcome  `json:"outcome"`
	// Step is the step that failed, for rejected and failed images.
	Step   string `json:"step,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Cause is Reason's class (ClassifyError), for rejected and failed images: failures
	// of one step and cause are one problem. Absent from reports of schema 1.x before
	// it was added.
	Cause Cause `json:"cause,omitempty"`
	// Attestation is what verified the image; AttestationNote says why none did when
	// the image passed without one (BYO policy "pinned").
	Attestation     *Attestation `json:"attestation,omitempty"`
	AttestationNote string       `json:"attestationNote,omitempty"`
	Repository      string       `json:"repository,omitempty"`
	Bytes           int64        `json:"bytes,omitempty"`
	// Size is, in a plan, the bytes of the blobs the image's manifests name (every
	// platform of an index): what its copy moves at most.
	Size     int64   `json:"size,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
	Attempts int     `json:"attempts,omitempty"`
	// Scan are the ECR scan findings by severity and ScanStatus ECR's scan status, with
	// --scan-wait.
	Scan       map[string]int `json:"scan,omitempty"`
	ScanStatus string         `json:"scanStatus,omitempty"`
	// Evidence is the chain of custody next to the image in the target (--sign-kms-key):
	// the vendor's attestation artifact and the bank's signature, what Sync found or
	// added and Verify checked.
	Evidence *evidence.Record `json:"evidence,omitempty"`
	// Referrers are the vendor's referrers copied with the image (--copy-referrers), when
	// the source has any.
	Referrers *evidence.ReferrersCopy `json:"referrers,omitempty"`

	// err is the failure Reason says, for Err; not in the JSON.
	err error
}

// Err returns the error the image failed with, cleaned like Reason but with its causes
// reachable with errors.Is and errors.As (attest.ErrRejected, *attest.UnavailableError,
// ErrTagConflict, a registry's errcode.Error, ...). It is nil for an image that did not
// fail, and for a report read from a file.
func (r ImageRecord) Err() error { return r.err }

// Summary counts images by outcome.
type Summary struct {
	Images      int   `json:"images"`
	Copied      int   `json:"copied"`
	Present     int   `json:"present"`
	Planned     int   `json:"planned"`
	Ignored     int   `json:"ignored"`
	Rejected    int   `json:"rejected"`
	Failed      int   `json:"failed"`
	NotAttested int   `json:"notAttested"`
	Bytes       int64 `json:"bytes"`
}

// Failed reports whether any image was rejected or failed (exit status 1).
func (r *Report) Failed() bool {
	return r.Summary.Rejected > 0 || r.Summary.Failed > 0 || r.Interrupted
}

// ExitStatus is the command line's exit status for the report: 0 when every image is in
// place (or would be, for a plan) and verified, 1 otherwise.
func (r *Report) ExitStatus() int {
	if r.Failed() {
		return 1
	}
	return 0
}

func (r *Report) summarize() {
	s := Summary{Images: len(r.Images)}
	for _, im := range r.Images {
		switch im.Outcome {
		case OutcomeCopied:
			s.Copied++
		case OutcomePresent:
			s.Present++
		case OutcomePlanned:
			s.Planned++
		case OutcomeIgnored:
			s.Ignored++
		case OutcomeRejected:
			s.Rejected++
		case OutcomeFailed:
			s.Failed++
		}
		if im.AttestationNote != "" && im.Attestation == nil && (im.Outcome == OutcomeCopied || im.Outcome == OutcomePresent || im.Outcome == OutcomePlanned) {
			s.NotAttested++
		}
		s.Bytes += im.Bytes
	}
	r.Summary = s
}

// ErrorLines are the lines of the error log: one per failure,
// "ERROR: <what failed>: <image>: <why>", or "ERROR: <image>: not started: the run was
// interrupted" for an image an interrupted run never started. None when every image is
// in place.
func (r *Report) ErrorLines() []string {
	r = r.sanitized()
	var lines []string
	for _, im := range r.Images {
		if im.Outcome != OutcomeRejected && im.Outcome != OutcomeFailed {
			continue
		}
		if im.NotStarted() {
			lines = append(lines, fmt.Sprintf("ERROR: %s: %s", im.Dest, ReasonNotStarted))
			continue
		}
		lines = append(lines, fmt.Sprintf("ERROR: %s failed: %s: %s", im.Step, im.Dest, oneLine(im.Reason)))
	}
	if r.Interrupted {
		lines = append(lines, "ERROR: run interrupted: the images not listed as copied or present were not synced")
	}
	return lines
}

// EncodeErrorLog writes the error log (ErrorLines, a line each): empty exactly when the
// run succeeded.
func (r *Report) EncodeErrorLog(w io.Writer) error {
	var b strings.Builder
	for _, l := range r.ErrorLines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// EncodeJSON writes the report as indented JSON (docs/report-schema.json).
func (r *Report) EncodeJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadReport reads a report file written with EncodeJSON.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading report %s: %w", path, err)
	}
	if r.SchemaVersion == 0 && r.Tool == "" && r.Images == nil {
		return nil, fmt.Errorf("reading report %s: not a tmsync report (no schemaVersion, tool or images: write one with --report)", path)
	}
	if r.SchemaVersion != ReportSchemaVersion {
		return nil, fmt.Errorf("reading report %s: schema version %d, this tmsync reads %d", path, r.SchemaVersion, ReportSchemaVersion)
	}
	return &r, nil
}

// MergeReports joins the reports of the shards of one run into one.
func MergeReports(reports ...*Report) *Report {
	if len(reports) == 0 {
		return &Report{SchemaVersion: ReportSchemaVersion, Tool: "tmsync"}
	}
	m := *reports[0]
	m.Shard = nil
	m.Repositories, m.Images = nil, nil
	seen := map[string]bool{}
	for _, r := range reports {
		if r.Started.Before(m.Started) {
			m.Started = r.Started
		}
		if r.Finished.After(m.Finished) {
			m.Finished = r.Finished
		}
		m.Interrupted = m.Interrupted || r.Interrupted
		m.Repositories = append(m.Repositories, r.Repositories...)
		for _, im := range r.Images {
			// Images outside a shard are not in its report, but ignored ones are in every
			// shard's: keep one of each.
			k := im.Dest + "\x00" + string(im.Outcome)
			if seen[k] {
				continue
			}
			seen[k] = true
			m.Images = append(m.Images, im)
		}
	}
	sort.SliceStable(m.Images, func(i, j int) bool { return m.Images[i].Dest < m.Images[j].Dest })
	sort.SliceStable(m.Repositories, func(i, j int) bool { return m.Repositories[i].Name < m.Repositories[j].Name })
	m.summarize()
	return &m
}

// EncodeJUnit writes the report as JUnit XML: one test case per image, so that
// CodeBuild's test reports show the run.
func (r *Report) EncodeJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type testsuite struct {
		XMLName   xml.Name   `xml:"testsuite"`
		Name      string     `xml:"name,attr"`
		Tests     int        `xml:"tests,attr"`
		Failures  int        `xml:"failures,attr"`
		Skipped   int        `xml:"skipped,attr"`
		Time      string     `xml:"time,attr"`
		Timestamp string     `xml:"timestamp,attr"`
		Cases     []testcase `xml:"testcase"`
	}
	r = r.sanitized()
	ts := testsuite{Name: "tmsync " + string(r.Mode), Timestamp: r.Started.UTC().Format(time.RFC3339),
		Time: fmt.Sprintf("%.3f", r.Finished.Sub(r.Started).Seconds())}
	for _, im := range r.Images {
		tc := testcase{Name: im.Dest, Classname: "tmsync." + im.Version, Time: fmt.Sprintf("%.3f", im.Seconds)}
		out := fmt.Sprintf("outcome: %s\nsource: %s\ndigest: %s\n", im.Outcome, im.Source, im.Digest)
		if im.Attestation != nil {
			out += fmt.Sprintf("attestation: %s by %s\n", im.Attestation.Occurrence, im.Attestation.Fingerprint)
		} else if im.AttestationNote != "" {
			out += "attestation: " + im.AttestationNote + "\n"
		}
		tc.SystemOut = out
		switch im.Outcome {
		case OutcomeRejected, OutcomeFailed:
			tc.Failure = &failure{Message: oneLine(im.Reason), Type: im.Step, Text: im.Reason}
			ts.Failures++
		case OutcomeIgnored:
			tc.Skipped = &skipped{Message: oneLine(im.Reason)}
			ts.Skipped++
		}
		ts.Cases = append(ts.Cases, tc)
	}
	ts.Tests = len(ts.Cases)
	b, err := xml.MarshalIndent(ts, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append([]byte(xml.Header), append(b, '\n')...))
	return err
}

// EncodeSummary writes the report for people: what was copied, skipped, rejected, and
// why. Every string is sanitized: a report read from a file is text tmsync may not have
// written.
func (r *Report) EncodeSummary(w io.Writer) error {
	r = r.sanitized()
	var b strings.Builder
	fmt.Fprintf(&b, "tmsync %s %s, %s to %s (%s)\n", r.Mode, r.Version,
		r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Millisecond))
	fmt.Fprintf(&b, "target: %s\n", r.Target)
	if r.Caller != "" {
		fmt.Fprintf(&b, "caller: %s\n", r.Caller)
	}
	for _, rel := range r.Releases {
		fmt.Fprintf(&b, "release %s:", rel.Version)
		for _, f := range rel.Files {
			fmt.Fprintf(&b, " %s", filepath.Base(f.Path))
		}
		b.WriteByte('\n')
	}
	s := r.Summary
	fmt.Fprintf(&b, "images: %d: %d copied, %d present, %d planned, %d ignored, %d rejected, %d failed (%d passed without attestation); %s moved\n",
		s.Images, s.Copied, s.Present, s.Planned, s.Ignored, s.Rejected, s.Failed, s.NotAttested, HumanBytes(s.Bytes))
	for _, outcome := range []Outcome{OutcomeRejected, OutcomeFailed, OutcomeCopied, OutcomePresent, OutcomePlanned, OutcomeIgnored} {
		for _, im := range r.Images {
			if im.Outcome != outcome {
				continue
			}
			line := fmt.Sprintf("  %-8s %s", outcome, im.Dest)
			if im.Digest != "" {
				line += " " + im.Digest
			}
			if im.Scan != nil {
				line += " [scan " + strings.ToLower(im.ScanStatus) + ": " + scanCounts(im.Scan) + "]"
			}
			switch {
			case im.Reason != "":
				line += ": " + oneLine(im.Reason)
			case im.Attestation != nil:
				line += " (attested by " + im.Attestation.Fingerprint + ")" // whole: what --src-attestor-fingerprint takes
			case im.AttestationNote != "":
				line += " (" + im.AttestationNote + ")"
			}
			b.WriteString(line + "\n")
		}
	}
	for _, repo := range r.Repositories {
		if len(repo.Drift) > 0 {
			fmt.Fprintf(&b, "  drift    %s: %s\n", repo.Name, strings.Join(repo.Drift, "; "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// scanCounts says "1 HIGH, 3 LOW" from the most severe down, or "no findings".
func scanCounts(counts map[string]int) string {
	var parts []string
	for _, sev := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"} {
		if n := counts[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

// HumanBytes is a byte count as tmsync prints it: "512 B", "1.5 MiB", "2.0 GiB".
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// oneLine is s on one line: runs of spaces collapsed, control characters escaped.
func oneLine(s string) string {
	return Sanitize(strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " "))
}

// sanitized is a copy of the report with every string sanitized: a report read from a
// file is text tmsync may not have written, and is printed as such.
func (r *Report) sanitized() *Report {
	c := *r
	if b, err := json.Marshal(r); err == nil {
		c = Report{}
		if json.Unmarshal(b, &c) != nil {
			c = *r
		}
	}
	cleanStrings(reflect.ValueOf(&c), Sanitize)
	return &c
}

// WriteFileAtomic writes the file at path with encode (Report.EncodeJSON, ...) through a
// temporary file in the same folder and a rename, so that a reader never sees a
// half-written log or report, and a failed encode leaves the old file as it was. Its
// error names path, never the temporary file: "writing PATH: creating a file in folder
// DIR: no such file or directory", "writing PATH: no space left on device".
func WriteFileAtomic(path string, encode func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: creating a file in folder %s: %w", path, dir, fileCause(err))
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
			err = fmt.Errorf("writing %s: %w", path, fileCause(err))
		}
	}()
	if err = encode(f); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// fileCause is err without the paths an *fs.PathError or *os.LinkError names (the
// temporary file's, which means nothing to the reader).
func fileCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// WriteJSON writes the report file at path (EncodeJSON, atomically).
func (r *Report) WriteJSON(path string) error { return WriteFileAtomic(path, r.EncodeJSON) }

// WriteJUnit writes the JUnit file at path (EncodeJUnit, atomically).
func (r *Report) WriteJUnit(path string) error { return WriteFileAtomic(path, r.EncodeJUnit) }

// WriteErrorLog writes the error log at path (EncodeErrorLog, atomically).
func (r *Report) WriteErrorLog(path string) error { return WriteFileAtomic(path, r.EncodeErrorLog) }
