package attest_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

func FuzzParseOccurrence(f *testing.F) {
	vendor, err := attesttest.NewSigner("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	for _, opts := range [][]attesttest.OccurrenceOption{nil, {attesttest.Generic()}, {attesttest.Generic(), attesttest.WithEncoding(attesttest.Binary)}} {
		raw, err := vendor.Occurrence(subA, opts...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(raw))
	}
	f.Add([]byte(`{"resource":{"uri":"x"},"attestation":{"attestation":{}}}`))
	f.Add([]byte(`{"resourceUri":"https://h/r@sha256:00","attestation":null}`))
	kr, err := vendor.Keyring()
	if err != nil {
		f.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := attest.ParseOccurrence(raw)
		if err != nil {
			return
		}
		// Whatever the occurrence, Verify must not panic, and must only ever accept
		// something signed by the fuzz key for subA.
		ver, err := v.Verify(subA, []attest.Occurrence{o})
		if err == nil && ver.Fingerprint != vendor.Fingerprint() {
			t.Fatalf("accepted by %s", ver.Fingerprint)
		}
		if err != nil && !errors.Is(err, attest.ErrRejected) {
			t.Fatalf("error is not a rejection: %v", err)
		}
		_ = attest.NewIndex([]attest.Occurrence{o}).For(subA)
	})
}

func FuzzParsePayload(f *testing.F) {
	f.Add(attesttest.Payload(attest.TypeAtomic, dgA, repo+":5.0.3", "c", 1700000000))
	f.Add([]byte(`{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:00"},"identity":{"docker-reference":"h/r"}},"optional":null}`))
	f.Add([]byte(`{"critical":{},"critical":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := attest.ParsePayload(b)
		if err != nil {
			if !errors.Is(err, attest.ErrBadPayload) {
				t.Fatalf("error without ErrBadPayload: %v", err)
			}
			return
		}
		if p.Digest.Validate() != nil {
			t.Fatalf("accepted invalid digest %q", p.Digest)
		}
	})
}

func FuzzReadBundle(f *testing.F) {
	f.Add([]byte(`{"version":1,"occurrences":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = attest.ReadBundle(bytesReader(b))
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// FuzzVerifyMessage mutates the OpenPGP message itself (armored and binary seeds).
func FuzzVerifyMessage(f *testing.F) {
	vendor, err := attesttest.NewSigner("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	payload := attesttest.Payload(attest.TypeAtomic, dgA, repo, "fuzz", 1)
	for _, enc := range []attesttest.Encoding{attesttest.Armored, attesttest.Binary, attesttest.ClearSigned, attesttest.Detached} {
		sig, err := vendor.Sign(payload, enc, time.Now().Add(-time.Minute))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sig)
	}
	kr, err := vendor.Keyring()
	if err != nil {
		f.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		raw, err := vendor.Occurrence(subA, attesttest.Generic(), attesttest.RawSignature(base64.StdEncoding.EncodeToString(sig)), attesttest.SerializedPayload(payload))
		if err != nil {
			t.Fatal(err)
		}
		o, err := attest.ParseOccurrence(raw)
		if err != nil {
			t.Fatal(err)
		}
		ver, err := v.Verify(subA, []attest.Occurrence{o})
		if err == nil && ver.Fingerprint != vendor.Fingerprint() {
			t.Fatalf("accepted by %s", ver.Fingerprint)
		}
		if err != nil && !errors.Is(err, attest.ErrRejected) {
			t.Fatalf("error is not a rejection: %v", err)
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	f.Add(repo + ":5.0.3@" + string(dgA))
	f.Add("localhost:5000/a/b@" + string(dgB))
	f.Fuzz(func(t *testing.T, ref string) {
		s, err := attest.ParseSubject(ref)
		if err != nil {
			return
		}
		again, err := attest.ParseSubject(s.String())
		if err != nil || again != s {
			t.Fatalf("round trip of %q: %+v, %v", ref, again, err)
		}
	})
}
