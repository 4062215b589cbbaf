package attest_test

import (
	"bytes"
	"io"

	"crypto"
	"errors"
	"github.com/ProtonMail/go-crypto/openpgp"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

// Class 2: only SHA-2 and SHA-3 message signatures count, checked on the packets.
func TestVerifyHashPolicy(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	rsa := mustSigner(t, "vendor-rsa", attesttest.RSAKey())
	sub := mustSigner(t, "vendor-sub", attesttest.SigningSubkey(0))
	v := mustVerifier(t, mustKeyring(t, vendor, rsa, sub))
	forms := map[string][]attesttest.OccurrenceOption{
		"pgp armored":     nil,
		"pgp binary":      {attesttest.WithEncoding(attesttest.Binary)},
		"generic armored": {attesttest.Generic()},
		"generic binary":  {attesttest.Generic(), attesttest.WithEncoding(attesttest.Binary)},
	}
	good := map[string]crypto.Hash{"SHA-224": crypto.SHA224, "SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384,
		"SHA-512": crypto.SHA512, "SHA3-256": crypto.SHA3_256, "SHA3-512": crypto.SHA3_512}
	for _, signer := range []*attesttest.Signer{vendor, rsa, sub} {
		for form, fopts := range forms {
			for name, h := range good {
				o := mustOcc(t, signer, subA, append([]attesttest.OccurrenceOption{attesttest.SignHash(h)}, fopts...)...)
				ver, err := v.Verify(subA, []attest.Occurrence{o})
				if err != nil {
					t.Errorf("%s %s %s: %v", signer.Fingerprint()[:8], form, name, err)
					continue
				}
				if ver.Hash != name || ver.Fingerprint != signer.Fingerprint() {
					t.Errorf("%s %s: %+v", form, name, ver)
				}
			}
			// SHA-1 go-crypto signs and would verify; MD5 and RIPEMD-160 are patched in.
			bad := map[string][]attesttest.OccurrenceOption{
				"SHA-1":          {attesttest.SignHash(crypto.SHA1)},
				"MD5":            {attesttest.SignHashID(1)},
				"RIPEMD-160":     {attesttest.SignHashID(3)},
				"SHA-1 id":       {attesttest.SignHashID(2)},
				"reserved id 13": {attesttest.SignHashID(13)},
				"unknown id 110": {attesttest.SignHashID(110)},
			}
			for name, bopts := range bad {
				o := mustOcc(t, signer, subA, append(bopts, fopts...)...)
				ver, err := v.Verify(subA, []attest.Occurrence{o})
				if err == nil {
					t.Errorf("%s %s: accepted %+v", form, name, ver)
					continue
				}
				if !errors.Is(err, attest.ErrRejected) || !errors.Is(err, attest.ErrWeakHash) {
					t.Errorf("%s %s: error = %v, want ErrWeakHash", form, name, err)
				}
			}
		}
	}
}

// A SHA-1 signature is refused even though, the policy aside, it verifies: prove the
// fixture is a real, valid signature by checking it with go-crypto's own reader.
func TestVerifySHA1WouldVerify(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	payload := attesttest.Payload(attest.TypeAtomic, dgA, repo, "x", 1)
	sig, err := vendor.SignHashed(payload, attesttest.Binary, time.Now().Add(-time.Minute), crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	if err := goCryptoVerifies(t, mustKeyring(t, vendor), sig); err != nil {
		t.Fatalf("fixture: go-crypto does not verify the SHA-1 signature: %v", err)
	}
}

// Self-signatures: a signing subkey bound with SHA-1 is refused; a primary key whose
// user-id self-signature uses SHA-1 is accepted (documented in hash.go).
func TestVerifySelfSignatureHash(t *testing.T) {
	subSHA1 := mustSigner(t, "sub-sha1", attesttest.SigningSubkey(0), attesttest.SelfSignatureHash(crypto.SHA1))
	primSHA1 := mustSigner(t, "prim-sha1", attesttest.SelfSignatureHash(crypto.SHA1))
	v := mustVerifier(t, mustKeyring(t, subSHA1, primSHA1))
	_, err := v.Verify(subA, []attest.Occurrence{mustOcc(t, subSHA1, subA)})
	if !errors.Is(err, attest.ErrWeakHash) {
		t.Errorf("subkey bound with SHA-1: %v", err)
	}
	if _, err := v.Verify(subA, []attest.Occurrence{mustOcc(t, primSHA1, subA)}); err != nil {
		t.Errorf("primary key with a SHA-1 self-signature: %v", err)
	}
}

func goCryptoVerifies(t *testing.T, kr openpgp.EntityList, bin []byte) error {
	t.Helper()
	md, err := openpgp.ReadMessage(bytes.NewReader(bin), kr, nil, nil)
	if err != nil {
		return err
	}
	if _, err := io.ReadAll(md.UnverifiedBody); err != nil {
		return err
	}
	return md.SignatureError
}

// Class 2: a key (or subkey) that has expired since a signature dated inside its validity:
// accepted and reported by default, refused with WithStrictKeyExpiry. Revoked: refused.
func TestVerifyExpiredKeyReportedOrRefused(t *testing.T) {
	now := time.Now()
	created := now.Add(-48 * time.Hour)
	expPrimary := mustSigner(t, "exp-primary", attesttest.KeyCreatedAt(created), attesttest.KeyLifetime(24*time.Hour))
	expSub := mustSigner(t, "exp-sub", attesttest.KeyCreatedAt(created), attesttest.SigningSubkey(24*time.Hour))
	// Primary expires in 10 days, subkey in 30: the earlier one counts.
	both := mustSigner(t, "both", attesttest.KeyCreatedAt(created), attesttest.KeyLifetime(12*24*time.Hour), attesttest.SigningSubkey(32*24*time.Hour))
	never := mustSigner(t, "never", attesttest.KeyCreatedAt(created), attesttest.SigningSubkey(0))
	kr := mustKeyring(t, expPrimary, expSub, both, never)
	clock := func() time.Time { return now }
	lax := mustVerifier(t, kr, attest.WithClock(clock))
	strict := mustVerifier(t, kr, attest.WithClock(clock), attest.WithStrictKeyExpiry())
	inside := attesttest.SignedAt(created.Add(12 * time.Hour))
	for _, tc := range []struct {
		name      string
		s         *attesttest.Signer
		expires   time.Time
		expired   bool
		strictErr error
	}{
		{"expired primary key", expPrimary, created.Add(24 * time.Hour), true, attest.ErrKeyExpiredSinceSigning},
		{"expired subkey", expSub, created.Add(24 * time.Hour), true, attest.ErrKeyExpiredSinceSigning},
		{"not yet expired", both, created.Add(12 * 24 * time.Hour), false, nil},
		{"never expires", never, time.Time{}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, form := range [][]attesttest.OccurrenceOption{{inside}, {inside, attesttest.Generic(), attesttest.WithEncoding(attesttest.Binary)}} {
				o := mustOcc(t, tc.s, subA, form...)
				ver, err := lax.Verify(subA, []attest.Occurrence{o})
				if err != nil {
					t.Fatalf("default: %v", err)
				}
				if ver.KeyExpired != tc.expired || !ver.KeyExpiresAt.Equal(tc.expires.Truncate(time.Second)) {
					t.Errorf("default: KeyExpired=%v KeyExpiresAt=%s, want %v %s", ver.KeyExpired, ver.KeyExpiresAt, tc.expired, tc.expires)
				}
				ver, err = strict.Verify(subA, []attest.Occurrence{o})
				if tc.strictErr == nil {
					if err != nil || ver.KeyExpired {
						t.Errorf("strict: %+v, %v", ver, err)
					}
					continue
				}
				if !errors.Is(err, attest.ErrRejected) || !errors.Is(err, tc.strictErr) || errors.Is(err, attest.ErrKeyExpired) {
					t.Errorf("strict: error = %v, want %v", err, tc.strictErr)
				}
			}
			// Dated after the expiry: refused in both modes (the existing rule).
			if !tc.expired {
				return
			}
			late := mustOcc(t, tc.s, subA, attesttest.SignedAt(tc.expires.Add(time.Hour)))
			for name, v := range map[string]*attest.Verifier{"default": lax, "strict": strict} {
				if _, err := v.Verify(subA, []attest.Occurrence{late}); !errors.Is(err, attest.ErrKeyExpired) {
					t.Errorf("%s, signed after expiry: %v", name, err)
				}
			}
		})
	}
}

func TestVerifyRevokedSubkey(t *testing.T) {
	now := time.Now()
	s := mustSigner(t, "rev-sub", attesttest.KeyCreatedAt(now.Add(-48*time.Hour)), attesttest.SigningSubkey(0))
	good := mustOcc(t, s, subA, attesttest.SignedAt(now.Add(-24*time.Hour)))
	if _, err := mustVerifier(t, mustKeyring(t, s)).Verify(subA, []attest.Occurrence{good}); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if err := s.RevokeSigningSubkey(now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, mustKeyring(t, s))
	// Signed before the revocation, checked after: refused (a revocation may be for compromise).
	if _, err := v.Verify(subA, []attest.Occurrence{good}); !errors.Is(err, attest.ErrKeyRevoked) {
		t.Errorf("revoked subkey: %v", err)
	}
}
