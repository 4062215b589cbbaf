package tmsync

import (
	"fmt"
	"io"
	"strings"
)

// ExitChangesPending is the exit status of a plan with --detailed-exitcode when it found
// something to do and nothing failed: 0 is "nothing to do", 1 "some images failed" and 2
// "the run could not start", so changes pending take 3.
const ExitChangesPending = 3

// ChangesPending reports whether a plan found work: a repository to create or change,
// or an image to copy.
func (r *Report) ChangesPending() bool {
	for _, repo := range r.Repositories {
		if repo.Created || len(repo.Changes) > 0 {
			return true
		}
	}
	for _, im := range r.Images {
		if im.Outcome == OutcomePlanned {
			return true
		}
	}
	return false
}

// EncodePlan writes the report as a plan for people, in the manner of terraform plan:
// each repository (+ create, ~ change with each setting's old -> new, = unchanged,
// ! drift that cannot be changed, . made by a plain registry on push), each image (+ copy, = present, x reject, ! fail,
// - ignored) with its reason, and the totals. Every string is sanitized.
func (r *Report) EncodePlan(w io.Writer) error {
	r = r.sanitized()
	var b strings.Builder
	var versions []string
	for _, rel := range r.Releases {
		versions = append(versions, rel.Version)
	}
	fmt.Fprintf(&b, "tmsync %s: release %s to %s\n", r.Mode, strings.Join(versions, ", "), r.Target)
	var create, change, same, drift, onPush int
	if len(r.Repositories) > 0 {
		b.WriteString("\nRepositories:\n")
	}
	for _, repo := range r.Repositories {
		switch {
		case repo.Created:
			create++
			fmt.Fprintf(&b, "  + %s (create)\n", repo.Name)
		case len(repo.Changes) > 0:
			change++
			fmt.Fprintf(&b, "  ~ %s (change)\n", repo.Name)
		case len(repo.Drift) > 0:
			fmt.Fprintf(&b, "  ! %s (differs, cannot be changed)\n", repo.Name)
		case repo.OnPush:
			onPush++
			fmt.Fprintf(&b, "  . %s (the registry makes it on the first push; no settings)\n", repo.Name)
		default:
			same++
			fmt.Fprintf(&b, "  = %s (unchanged)\n", repo.Name)
		}
		for _, c := range repo.Changes {
			fmt.Fprintf(&b, "      %s\n", oneLine(c))
		}
		for _, d := range repo.Drift {
			drift++
			fmt.Fprintf(&b, "      ! %s\n", oneLine(d))
		}
		for _, u := range repo.Unverified {
			fmt.Fprintf(&b, "      ? %s (not compared)\n", oneLine(u))
		}
	}
	var copyN, present, reject, fail, ignored int
	var toMove int64
	b.WriteString("\nImages:\n")
	for _, im := range r.Images {
		var mark, what string
		switch im.Outcome {
		case OutcomePlanned, OutcomeCopied:
			copyN++
			toMove += max(im.Bytes, im.Size)
			mark, what = "+", "copy"
			if im.Outcome == OutcomeCopied {
				what = "copied"
			}
		case OutcomePresent:
			present++
			mark, what = "=", "present"
		case OutcomeRejected:
			reject++
			mark, what = "x", "reject"
		case OutcomeFailed:
			fail++
			mark, what = "!", "fail"
		default:
			ignored++
			mark, what = "-", string(im.Outcome)
		}
		line := fmt.Sprintf("  %s %-8s %s", mark, what, im.Dest)
		if im.Digest != "" {
			line += " " + shortDigest(im.Digest)
		}
		switch {
		case im.Bytes > 0:
			line += " (" + HumanBytes(im.Bytes) + ")"
		case im.Size > 0:
			line += " (" + HumanBytes(im.Size) + ")"
		}
		switch {
		case im.Reason != "":
			line += ": " + oneLine(im.Reason)
		case im.AttestationNote != "":
			line += " (" + im.AttestationNote + ")"
		}
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "\nPlan: %d repositories to create, %d to change, %d unchanged", create, change, same)
	if onPush > 0 {
		fmt.Fprintf(&b, ", %d made by the registry on push", onPush)
	}
	if drift > 0 {
		fmt.Fprintf(&b, ", %d settings differing", drift)
	}
	fmt.Fprintf(&b, "; %d images to copy", copyN)
	if toMove > 0 {
		fmt.Fprintf(&b, " (%s)", HumanBytes(toMove))
	}
	fmt.Fprintf(&b, ", %d present, %d rejected, %d failed", present, reject, fail)
	if ignored > 0 {
		fmt.Fprintf(&b, ", %d ignored", ignored)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// shortDigest is "sha256:" and the first 12 hex digits.
func shortDigest(d string) string {
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return d
}
