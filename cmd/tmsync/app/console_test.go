package app

import (
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/tmsync"
)

func TestConsoleLines(t *testing.T) {
	for _, term := range []bool{false, true} {
		var b strings.Builder
		c := &Console{W: &b, Terminal: term}
		c.Event(tmsync.Event{Kind: "begin", Total: 2, Message: "sync: 2 images"})
		c.Event(tmsync.Event{Kind: "start", Image: "vault/a:1", Message: "START: vault/a:1"})
		c.Event(tmsync.Event{Kind: "done", Image: "vault/a:1", Message: "DONE: vault/a:1"})
		c.Event(tmsync.Event{Kind: "fail", Image: "vault/b:1", Message: "attestation rejected"})
		c.finish()
		out := b.String()
		for _, want := range []string{"INFO: START: vault/a:1\n", "INFO: [1/2] DONE: vault/a:1\n", "ERROR: [2/2] vault/b:1: attestation rejected\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal=%v: no %q in %q", term, want, out)
			}
		}
		hasStatus := strings.Contains(out, "\x1b[K") && strings.Contains(out, "images done")
		if hasStatus != term {
			t.Errorf("terminal=%v: status line shown=%v:\n%q", term, hasStatus, out)
		}
	}
}

// TestConsoleETAFromBytes: with the plan's bytes the ETA is the bytes left at the recent
// rate (a moving average, not since the start); without them, from the images done.
func TestConsoleETAFromBytes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := t0
	var b strings.Builder
	c := &Console{W: &b, now: func() time.Time { return at }}
	c.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 3, Message: "sync: 3 images"})
	c.Event(tmsync.Event{Kind: tmsync.EventPlanned, Total: 2, Bytes: 3000})
	c.Event(tmsync.Event{Kind: tmsync.EventSkip, Image: "vault/c:1", Message: "already present"})
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/a:1", Message: "START: vault/a:1", Bytes: 1000})
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/b:1", Message: "START: vault/b:1", Bytes: 2000})
	at = t0.Add(10 * time.Second)
	c.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/a:1", Bytes: 1000})
	c.Event(tmsync.Event{Kind: tmsync.EventDone, Image: "vault/a:1", Message: "DONE: vault/a:1"})
	beat := func() string {
		b.Reset()
		c.beat(at)
		return b.String()
	}
	// 1000 of 3000 in 10 s: 100 B/s, 2000 left: 20 s (by images it would be 10 s).
	if got := beat(); !strings.Contains(got, "1000 B of 2.9 KiB moved at 100 B/s, ETA 20s") {
		t.Errorf("heartbeat: %q", got)
	}
	// A retry restarts b's progress lower: the run's bytes do not go down, and b's bytes
	// are not counted twice when it ends.
	at = t0.Add(30 * time.Second)
	c.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/b:1", Bytes: 1500})
	at = t0.Add(40 * time.Second)
	c.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/b:1", Bytes: 500})
	if c.moved() != 2500 {
		t.Errorf("moved %d after a lower progress, want 2500", c.moved())
	}
	// The window is the last 20 s: from the sample at 10 s (1000) to 2500 at 40 s is
	// 50 B/s; since the start it would be 62 B/s. 500 left: 10 s.
	if got := beat(); !strings.Contains(got, "2.4 KiB of 2.9 KiB moved at 50 B/s, ETA 10s") {
		t.Errorf("heartbeat: %q", got)
	}
	c.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/b:1", Bytes: 2000})
	c.Event(tmsync.Event{Kind: tmsync.EventDone, Image: "vault/b:1", Message: "DONE: vault/b:1"})
	if c.moved() != 3000 {
		t.Errorf("moved %d at the end, want 3000", c.moved())
	}
	// A stall: nothing moves for a minute, the rate falls to 0 (not the run's average).
	at = t0.Add(100 * time.Second)
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/d:1", Message: "START: vault/d:1"})
	if got := beat(); !strings.Contains(got, "moved at 0 B/s") {
		t.Errorf("heartbeat after a stall: %q", got)
	}

	// Without the plan's bytes: from the images done.
	at = t0
	u := &Console{W: &b, now: func() time.Time { return at }}
	u.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 4, Message: "sync: 4 images"})
	u.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/a:1", Message: "START: vault/a:1"})
	at = t0.Add(10 * time.Second)
	u.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/a:1", Bytes: 100})
	u.Event(tmsync.Event{Kind: tmsync.EventDone, Image: "vault/a:1", Message: "DONE: vault/a:1"})
	b.Reset()
	u.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/b:1", Message: "START: vault/b:1"})
	b.Reset()
	u.beat(at)
	if got := b.String(); !strings.Contains(got, "100 B moved at 10 B/s, ETA 30s") {
		t.Errorf("heartbeat without the plan's bytes: %q", got)
	}
}
