package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

// TestConsoleFailureStorm: 150 copies failing (and retrying) for one cause, each message
// naming its own image, repository and digest, print a handful of console lines, not 150.
func TestConsoleFailureStorm(t *testing.T) {
	var b strings.Builder
	c := &Console{W: &b}
	c.Event(tmsync.Event{Kind: tmsync.EventBegin, Total: 150, Message: "sync: 150 images"})
	for i := range 150 {
		img := fmt.Sprintf("vault/svc-%03d:5.0.3", i)
		dig := fmt.Sprintf("sha256:%064x", i)
		c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: img, Message: "START: " + img})
		c.Event(tmsync.Event{Kind: tmsync.EventRetry, Image: img, Message: fmt.Sprintf(`copy failed, retrying in 1s: writing blob %s: Put "http://10.0.0.9:5000/v2/3rdparty/tm/vault/svc-%03d/blobs/uploads/x?digest=%s": connection reset by peer`, dig, i, dig)})
		c.Event(tmsync.Event{Kind: tmsync.EventFail, Image: img, Running: true, Message: fmt.Sprintf(`writing blob %s: Put "http://10.0.0.9:5000/v2/3rdparty/tm/vault/svc-%03d/blobs/uploads/x?digest=%s": connection reset by peer`, dig, i, dig)})
	}
	// The run's end adds two lines: its counts and the summary of the cause.
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines)+2 > 10 {
		t.Errorf("%d console lines for one cause, want at most 8 before the run's two last:\n%s", len(lines), b.String())
	}
	if !strings.Contains(b.String(), "more images fail like the ones above") {
		t.Errorf("the console does not say it stopped listing")
	}
	// Another cause is still printed, and a success ends the storm.
	c.Event(tmsync.Event{Kind: tmsync.EventFail, Image: "vault/x:1", Message: "attestation rejected"})
	c.Event(tmsync.Event{Kind: tmsync.EventStart, Image: "vault/y:1", Message: "START: vault/y:1"})
	if !strings.Contains(b.String(), "vault/x:1: attestation rejected") {
		t.Errorf("a failure of another cause was not printed")
	}
}

func TestGrantsEveryone(t *testing.T) {
	for policy, want := range map[string]bool{
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`:                                          true,
		`{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}}`:                        true,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]}}]}`:                true,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`: false,
		`{"Statement":[{"Effect":"Deny","Principal":"*"}]}`:                                                            false,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"}}]}`:                      false,
		``: false,
	} {
		if got := grantsEveryone(policy); got != want {
			t.Errorf("%s: %v, want %v", policy, got, want)
		}
	}
}
