package app

import (
	"strings"
	"testing"

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
