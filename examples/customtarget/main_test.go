package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/exampletest"
	"github.com/tmsync/tmsync/tmsync"
)

// TestCustomTarget syncs the example release from an offline bundle with two of its
// three images approved: those two arrive, the third is rejected by the bank's rule (and
// is an attest.ErrRejected to the engine), and the audit trail names what was touched.
func TestCustomTarget(t *testing.T) {
	ctx := context.Background()
	images, err := exampletest.Release()
	if err != nil {
		t.Fatal(err)
	}
	w, err := exampletest.Start(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	key, err := w.WriteKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The bundle a connected run would have saved.
	client, err := attest.NewClient(w.Attestations.URL, attest.WithToken(w.Token))
	if err != nil {
		t.Fatal(err)
	}
	occs, err := client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := attest.WriteBundle(&b, attest.Bundle{Address: w.Attestations.URL, Created: time.Now(), Occurrences: occs}); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "attestations.json")
	if err := os.WriteFile(bundle, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	approvals := "# change board, release 5.0.3\n" + images[0].Digest + " CHG-1001\n" + images[2].Digest + " CHG-1002\n"

	rep, trail, err := syncRelease(ctx, config{release: w.ReleaseDir, target: w.Target + "/mirror", vendor: w.Vendor,
		key: key, bundle: bundle, token: w.Token, approvals: strings.NewReader(approvals), insecure: []string{w.Vendor, w.Target}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Copied != 2 || rep.Summary.Rejected != 1 || rep.ExitStatus() != 1 {
		t.Fatalf("summary %+v, exit %d, want 2 copied 1 rejected exit 1: %v", rep.Summary, rep.ExitStatus(), rep.ErrorLines())
	}
	for _, im := range rep.Images {
		notApproved := im.Dest == images[1].Repository+":"+images[1].Tag
		if notApproved != (im.Outcome == tmsync.OutcomeRejected) {
			t.Errorf("%s: %s (%s)", im.Dest, im.Outcome, im.Reason)
		}
		if notApproved && (!errors.Is(im.Err(), errNotApproved) || !errors.Is(im.Err(), attest.ErrRejected)) {
			t.Errorf("%s: error %v is not the bank's rejection", im.Dest, im.Err())
		}
		if !notApproved && im.Attestation == nil {
			t.Errorf("%s: copied without the vendor's attestation", im.Dest)
		}
	}
	joined := strings.Join(trail, "\n")
	for _, want := range []string{"ensure mirror/vault/core (plan false)", "reference mirror/vault/core:5.0.3", "reference mirror/vault/postings-api:5.0.3"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in the audit trail:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "xpl_payees:5.0.3") {
		t.Errorf("the unapproved image reached the target's references:\n%s", joined)
	}

	// A malformed approvals file stops the run before anything happens.
	if _, _, err := syncRelease(ctx, config{approvals: strings.NewReader("sha256:nothex CHG\n")}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad approvals: %v", err)
	}
}
