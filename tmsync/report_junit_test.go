package tmsync_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

// junitSuite is JUnit XML as CodeBuild's test reports read it.
type junitSuite struct {
	XMLName  xml.Name `xml:"testsuite"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Cases    []struct {
		Name      string `xml:"name,attr"`
		Classname string `xml:"classname,attr"`
		Time      string `xml:"time,attr"`
		Failure   *struct {
			Message string `xml:"message,attr"`
			Type    string `xml:"type,attr"`
			Text    string `xml:",chardata"`
		} `xml:"failure"`
		Skipped   *struct{} `xml:"skipped"`
		SystemOut string    `xml:"system-out"`
	} `xml:"testcase"`
}

// TestJUnitOneCasePerImage parses the JUnit file of a run with every outcome: one test
// case per image, a failure for each rejected or failed image (with its step and reason),
// ignored images skipped, the others passing.
func TestJUnitOneCasePerImage(t *testing.T) {
	w := runAllOutcomes(t)
	path := filepath.Join(t.TempDir(), "junit.xml")
	must(t, w.report.WriteJUnit(path))
	data, err := os.ReadFile(path)
	must(t, err)
	var s junitSuite
	if err := xml.Unmarshal(data, &s); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, data)
	}
	if s.Name != "tmsync sync" || s.Tests != len(w.report.Images) || len(s.Cases) != s.Tests {
		t.Fatalf("suite %q: %d tests, %d cases; want %d", s.Name, s.Tests, len(s.Cases), len(w.report.Images))
	}
	failures, skipped := 0, 0
	for i, c := range s.Cases {
		im := w.report.Images[i]
		if c.Name != im.Dest || c.Classname != "tmsync."+im.Version {
			t.Errorf("case %d is %s (%s), want %s", i, c.Name, c.Classname, im.Dest)
		}
		switch im.Outcome {
		case tmsync.OutcomeRejected, tmsync.OutcomeFailed:
			failures++
			if c.Failure == nil || c.Failure.Type != im.Step || c.Failure.Message == "" || c.Failure.Text != im.Reason {
				t.Errorf("%s (%s): failure %+v, want one of type %s with the reason", im.Dest, im.Outcome, c.Failure, im.Step)
			}
		case tmsync.OutcomeIgnored:
			skipped++
			if c.Skipped == nil || c.Failure != nil {
				t.Errorf("%s (ignored): not skipped", im.Dest)
			}
		default:
			if c.Failure != nil || c.Skipped != nil {
				t.Errorf("%s (%s): has a failure or is skipped", im.Dest, im.Outcome)
			}
		}
		if c.SystemOut == "" {
			t.Errorf("%s: no system-out", im.Dest)
		}
	}
	if failures != 2 || s.Failures != failures || skipped != 1 || s.Skipped != skipped {
		t.Errorf("suite counts %d failures %d skipped; cases %d failures %d skipped; want 2 and 1", s.Failures, s.Skipped, failures, skipped)
	}
}
