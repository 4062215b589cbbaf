package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/exampletest"
)

// TestPlan plans the example release, one of whose images the vendor did not attest,
// against an empty registry: two images to copy, one refused, nothing copied.
func TestPlan(t *testing.T) {
	ctx := context.Background()
	images, err := exampletest.Release()
	if err != nil {
		t.Fatal(err)
	}
	w, err := exampletest.Start(ctx, images, "vault/postings-api")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	key, err := w.WriteKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	refused, err := plan(ctx, config{release: w.ReleaseDir, target: w.Target + "/3rdparty/tm", vendor: w.Vendor,
		attestations: w.Attestations.URL, key: key, token: w.Token, insecure: []string{w.Vendor, w.Target}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if refused != 1 {
		t.Errorf("%d refused, want 1:\n%s", refused, got)
	}
	for _, want := range []string{
		"copy     vault/core:5.0.3 " + images[0].Digest + " (attested by ",
		"copy     vault/xpl/xpl_payees:5.0.3 " + images[1].Digest,
		"REFUSED  vault/postings-api:5.0.3: ",
		"2 to copy, 0 in place, 1 refused\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, w.Token) {
		t.Errorf("the token is in the output:\n%s", got)
	}
	// A plan changes nothing: a second plan says the same.
	var again strings.Builder
	if _, err := plan(ctx, config{release: w.ReleaseDir, target: w.Target + "/3rdparty/tm", vendor: w.Vendor,
		attestations: w.Attestations.URL, key: key, token: w.Token, insecure: []string{w.Vendor, w.Target}}, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != got {
		t.Errorf("the second plan differs:\n%s\nfirst:\n%s", again.String(), got)
	}
}
