package app

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tmsync/tmsync/tmsync"
)

// maxCauses is how many causes of failure the end of a run lists on the console.
const maxCauses = 4

// failureSummary is the end of a run's console: the failures grouped by cause, a line
// each with the count and the first images, at most maxCauses+1 lines; each failure is
// a line of the error log at errorLog.
func failureSummary(rep *tmsync.Report, errorLog string) []string {
	// A group is the failures of one step and cause (groupKey); its message is its first
	// image's reason with what differs from image to image taken out, and its cause's
	// name when the others' reasons read differently.
	type group struct {
		step, cause string
		class       tmsync.Cause
		mixed       bool // the images' reasons differ beyond image names, digests and URLs
		notStarted  bool // the interruption came before they started (ImageRecord.NotStarted)
		images      []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, im := range rep.Images {
		if im.Outcome != tmsync.OutcomeRejected && im.Outcome != tmsync.OutcomeFailed {
			continue
		}
		c := cause(im.Dest, tmsync.Sanitize(oneLine(im.Reason)))
		k := groupKey(im.Step, im.Cause, im.Dest, tmsync.Sanitize(oneLine(im.Reason)))
		if im.NotStarted() {
			k = "not started" // not one of the step's failures: one line of their own
		}
		g := byKey[k]
		if g == nil {
			g = &group{step: im.Step, cause: c, class: im.Cause, notStarted: im.NotStarted()}
			byKey[k] = g
			groups = append(groups, g)
		} else if c != g.cause {
			g.mixed = true
		}
		g.images = append(g.images, im.Dest)
	}
	sort.SliceStable(groups, func(i, j int) bool { return len(groups[i].images) > len(groups[j].images) })
	var lines []string
	for i, g := range groups {
		if i == maxCauses {
			rest := 0
			for _, g := range groups[i:] {
				rest += len(g.images)
			}
			lines = append(lines, fmt.Sprintf("ERROR: %d more images failed for %d other causes: see %s", rest, len(groups)-i, errorLog))
			break
		}
		if len(g.images) == 1 && g.notStarted {
			lines = append(lines, fmt.Sprintf("ERROR: %s: %s", g.images[0], tmsync.ReasonNotStarted))
			continue
		}
		if len(g.images) == 1 {
			lines = append(lines, fmt.Sprintf("ERROR: %s failed: %s: %s", g.step, g.images[0], strings.ReplaceAll(g.cause, "<image>", g.images[0])))
			continue
		}
		first := g.images
		if len(first) > 3 {
			first = first[:3]
		}
		more := ""
		if len(g.images) > len(first) {
			more = fmt.Sprintf(" and %d more", len(g.images)-len(first))
		}
		if g.notStarted {
			lines = append(lines, fmt.Sprintf("ERROR: %d images %s [%s%s; each in %s]",
				len(g.images), tmsync.ReasonNotStarted, strings.Join(first, ", "), more, errorLog))
			continue
		}
		msg := g.cause
		if g.mixed {
			msg = string(g.class) + ", e.g. " + strings.ReplaceAll(g.cause, "<image>", g.images[0])
		}
		lines = append(lines, fmt.Sprintf("ERROR: %d images failed (%s): %s [%s%s; each in %s]",
			len(g.images), g.step, msg, strings.Join(first, ", "), more, errorLog))
	}
	if rep.Interrupted {
		lines = append(lines, "ERROR: run interrupted: the images not listed as copied or present were not synced")
	}
	return lines
}
