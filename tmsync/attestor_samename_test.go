package tmsync

import (
	"context"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

// TestAttestorSameNameOccurrences: two occurrences with one name, one signed by the
// attestor's key and one by another (a server's mistake or a hostile one). Whatever their
// order, the image verifies, the occurrence kept as its evidence is the one that verified,
// and the saved bundle holds both, so that a run from it verifies the image too.
func TestAttestorSameNameOccurrences(t *testing.T) {
	vendorKey, err := attesttest.NewSigner("vendor")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := attesttest.NewSigner("other")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vendorKey.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		t.Fatal(err)
	}
	sub := attest.Subject{Repository: "docker.external.thoughtmachine.io/vault/core", Digest: digest.FromString("core")}
	name := attesttest.Name("projects/p/occurrences/same")
	occ := func(s *attesttest.Signer) attest.Occurrence {
		raw, err := s.Occurrence(sub, name)
		if err != nil {
			t.Fatal(err)
		}
		o, err := attest.ParseOccurrence(raw)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	good, bad := occ(vendorKey), occ(otherKey)
	for _, c := range []struct {
		what  string
		order []attest.Occurrence
	}{{"bad first", []attest.Occurrence{bad, good}}, {"good first", []attest.Occurrence{good, bad}}} {
		t.Run(c.what, func(t *testing.T) {
			ctx := context.Background()
			a, err := NewAttestor(nil, v, WithBundle(&attest.Bundle{Version: 1, Occurrences: c.order}))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Prepare(ctx, []attest.Subject{sub}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(ctx, sub); err != nil {
				t.Fatalf("verify: %v", err)
			}
			ev, _, ok := a.verified(sub)
			if !ok || string(ev.Raw) != string(good.Raw) {
				t.Errorf("the evidence kept is not the occurrence that verified")
			}
			b := a.Bundle("https://attestations.example", time.Now())
			if len(b.Occurrences) != 2 {
				t.Errorf("the bundle holds %d occurrences, want both of the name", len(b.Occurrences))
			}
			from, err := NewAttestor(nil, v, WithBundle(&b))
			if err != nil {
				t.Fatal(err)
			}
			if err := from.Prepare(ctx, []attest.Subject{sub}); err != nil {
				t.Fatal(err)
			}
			if _, err := from.Verify(ctx, sub); err != nil {
				t.Errorf("a run from the saved bundle: %v", err)
			}
		})
	}
}
