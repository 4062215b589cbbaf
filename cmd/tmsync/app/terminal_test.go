package app

import (
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/vtscreen"
	"github.com/tmsync/tmsync/tmsync"
)

// TestTerminalLiveView: on a terminal the console keeps a status block under the log
// lines (each image in flight with its bytes and rate, the run's bytes and ETA), moves it
// down as lines are logged, and leaves nothing of it behind: the screen at the end holds
// exactly the log lines, none joined to a status line.
func TestTerminalLiveView(t *testing.T) {
	var out strings.Builder
	c := &Console{W: &out, Terminal: true}
	sc := &vtscreen.Screen{}
	flush := func() { sc.Write(out.String()); out.Reset() }
	c.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 3, Message: "sync: 3 images"})
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/a:1", Message: "START: vault/a:1"})
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/b:1", Message: "START: vault/b:1"})
	c.lastDraw = c.lastDraw.AddDate(-1, 0, 0)
	c.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/a:1", Bytes: 3 << 20})
	flush()
	mid := sc.Text()
	for _, want := range []string{"INFO: START: vault/b:1\n  vault/a:1  3.0 MiB", "\n  vault/b:1  0 B", "\ntmsync: 0/3 images done, 2 copying, 3.0 MiB moved at"} {
		if !strings.Contains(mid, want) {
			t.Errorf("mid-run screen lacks %q:\n%s", want, mid)
		}
	}
	c.Event(tmsync.Event{Kind: tmsync.EventDone, Image: "vault/a:1", Message: "DONE: vault/a:1"})
	c.Event(tmsync.Event{Kind: tmsync.EventFail, Image: "vault/b:1", Message: "boom", Running: true})
	c.Event(tmsync.Event{Kind: tmsync.EventSkip, Image: "vault/c:1", Message: "already present"})
	c.Printf("INFO: sync finished")
	c.finish()
	flush()
	want := strings.Join([]string{
		"INFO: sync: 3 images",
		"INFO: START: vault/a:1",
		"INFO: START: vault/b:1",
		"INFO: [1/3] DONE: vault/a:1",
		"ERROR: [2/3] vault/b:1: boom",
		"INFO: [3/3] SKIP: vault/c:1: already present",
		"INFO: sync finished",
	}, "\n")
	if got := sc.Text(); got != want {
		t.Errorf("final screen:\n%s\nwant:\n%s", got, want)
	}
	// Not a terminal: no escape sequence at all, and progress events print nothing.
	var plain strings.Builder
	p := &Console{W: &plain}
	p.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 1, Message: "sync: 1 images"})
	p.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/a:1", Message: "START: vault/a:1"})
	p.Event(tmsync.Event{Kind: tmsync.EventProgress, Image: "vault/a:1", Bytes: 10})
	p.Printf("INFO: x")
	p.finish()
	if strings.Contains(plain.String(), "\x1b") || strings.Count(plain.String(), "\n") != 3 {
		t.Errorf("plain console: %q", plain.String())
	}
}
