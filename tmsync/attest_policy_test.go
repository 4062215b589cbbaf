package tmsync

import (
	"context"
	"crypto"
	"errors"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// An attestation by a key that has expired since it signed is accepted and reported by
// default, and refused under a strict key expiry; one signed with SHA-1 never verifies.
// Nothing of a refused image reaches the target.
func TestAttestationKeyPolicyInTheEngine(t *testing.T) {
	now := time.Now()
	expiring, err := attesttest.NewSignerWith("expiring attestor",
		attesttest.KeyCreatedAt(now.Add(-48*time.Hour)), attesttest.KeyLifetime(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	attestorWith := func(w *world, strict bool) Attestor {
		kr, err := w.signer.Keyring()
		if err != nil {
			t.Fatal(err)
		}
		var opts []attest.VerifierOption
		if strict {
			opts = append(opts, attest.WithStrictKeyExpiry())
		}
		v, err := attest.NewVerifier(kr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := attest.NewClient(w.att.URL, attest.WithToken("token"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAttestor(c, v)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		strict  bool
		sign    []attesttest.OccurrenceOption
		outcome Outcome
		expired bool
	}{
		{"expired since signing, default", false, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(-36 * time.Hour))}, OutcomeCopied, true},
		{"expired since signing, strict", true, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(-36 * time.Hour))}, OutcomeRejected, false},
		{"signed after expiry", false, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(-1 * time.Hour))}, OutcomeRejected, false},
		{"SHA-1 inside validity", false, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(-36 * time.Hour)), attesttest.SignHash(crypto.SHA1)}, OutcomeRejected, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.signer = expiring
			images := w.push([]releasetest.Image{small("vault/a", "1.0")}, 1, false)
			w.attest(images[0].Repository, images[0].Digest, tc.sign...)
			e := w.engine(w.release("1.0", images), func(c *testConfig) { c.attestor = attestorWith(w, tc.strict) })
			rep, err := e.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rec := rep.Images[0]
			if rec.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%s), want %s", rec.Outcome, rec.Reason, tc.outcome)
			}
			// The cause stays reachable through the report: attest's own sentinels.
			if (rec.Outcome == OutcomeRejected) != errors.Is(rec.Err(), attest.ErrRejected) {
				t.Errorf("outcome %s, Err() %v: errors.Is(attest.ErrRejected) %v", rec.Outcome, rec.Err(), errors.Is(rec.Err(), attest.ErrRejected))
			}
			var rejected *attest.RejectedError
			if rec.Outcome == OutcomeRejected && (!errors.As(rec.Err(), &rejected) || rejected.Subject.Digest.String() != images[0].Digest) {
				t.Errorf("Err() %v is not the *attest.RejectedError of the image", rec.Err())
			}
			got := w.targetDigest("vault/a", "1.0")
			if tc.outcome != OutcomeCopied {
				if got != "" {
					t.Fatalf("a refused image reached the target: %s", got)
				}
				return
			}
			if got != images[0].Digest {
				t.Fatalf("target has %q, want %s", got, images[0].Digest)
			}
			a := rec.Attestation
			if a == nil || a.KeyExpired != tc.expired || a.KeyExpiresAt == nil || a.Hash != "SHA-256" {
				t.Fatalf("attestation record %+v", a)
			}
			if !a.KeyExpiresAt.Equal(expiring.Entity.PrimaryKey.CreationTime.Add(24 * time.Hour)) {
				t.Errorf("keyExpiresAt %s", a.KeyExpiresAt)
			}
		})
	}
}

// The attestor asks the server for the release's occurrences only, so a server's listing
// bound surfaces as a failure to start, before any copy.
func TestAttestationListingLimitStopsTheRun(t *testing.T) {
	w := newWorld(t)
	images := w.push([]releasetest.Image{small("vault/a", "1.0")}, 1, true)
	for i := range 5 {
		w.attest("vault/other", "sha256:"+string(rune('a'+i))+"000000000000000000000000000000000000000000000000000000000000000")
	}
	kr, _ := w.signer.Keyring()
	v, _ := attest.NewVerifier(kr)
	c, err := attest.NewClient(w.att.URL, attest.WithToken("token"), attest.WithListLimits(attest.ListLimits{MaxOccurrences: 3}))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewAttestor(c, v)
	e := w.engine(w.release("1.0", images), func(c *testConfig) { c.attestor = a })
	_, err = e.Sync(context.Background())
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, attest.ErrListingLimit) {
		t.Fatalf("err = %v, want a StartError matching attest.ErrListingLimit", err)
	}
	if d := w.targetDigest("vault/a", "1.0"); d != "" {
		t.Fatalf("pushed %s", d)
	}
}
