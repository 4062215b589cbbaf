package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

// TestQuickstart runs the library example: it prints the first sync's report (the images
// copied, not the second sync's 0), and no line says an image twice.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "images: 3: 3 copied, 0 present") {
		t.Errorf("the first sync's report is not printed:\n%s", out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		for _, im := range []string{"vault/core:5.0.3", "vault/postings-api:5.0.3", "vault/xpl/xpl_payees:5.0.3"} {
			if strings.Count(line, im) > 1 {
				t.Errorf("repeated: %q", line)
			}
		}
	}
}

func TestEventLine(t *testing.T) {
	const im = "vault/core:5.0.3"
	for _, c := range []struct {
		e    tmsync.Event
		want string
	}{
		{tmsync.Event{Kind: tmsync.EventStart, Image: im, Message: "START: " + im}, "START: " + im},
		{tmsync.Event{Kind: tmsync.EventSkip, Image: im, Message: "already present"}, "SKIP: " + im + ": already present"},
		{tmsync.Event{Kind: tmsync.EventFail, Image: im, Message: "copy: timeout"}, "FAIL: " + im + ": copy: timeout"},
		{tmsync.Event{Kind: tmsync.EventBegin, Message: "sync: 3 images"}, "sync: 3 images"},
		{tmsync.Event{Kind: tmsync.EventProgress, Image: im, Bytes: 10}, ""},
		{tmsync.Event{Kind: tmsync.EventInfo, Image: im, Message: "resolved"}, ""},
	} {
		if got := eventLine(c.e); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}
