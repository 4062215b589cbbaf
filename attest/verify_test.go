package attest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

const repo = "docker.external.thoughtmachine.io/vault/xpl/xpl_payees"

var (
	dgA  = digest.FromString("image A")
	dgB  = digest.FromString("image B")
	subA = attest.Subject{Repository: repo, Digest: dgA}
)

func mustSigner(t testing.TB, name string, opts ...attesttest.SignerOption) *attesttest.Signer {
	t.Helper()
	s, err := attesttest.NewSignerWith(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustKeyring(t testing.TB, signers ...*attesttest.Signer) openpgp.EntityList {
	t.Helper()
	var all []byte
	for _, s := range signers {
		pub, err := s.ArmoredPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pub...)
	}
	kr, err := attest.ReadKeyring(strings.NewReader(string(all)))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustOcc(t testing.TB, s *attesttest.Signer, sub attest.Subject, opts ...attesttest.OccurrenceOption) attest.Occurrence {
	t.Helper()
	raw, err := s.Occurrence(sub, opts...)
	if err != nil {
		t.Fatal(err)
	}
	o, err := attest.ParseOccurrence(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustVerifier(t testing.TB, kr openpgp.EntityList, opts ...attest.VerifierOption) *attest.Verifier {
	t.Helper()
	v, err := attest.NewVerifier(kr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAccepts(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	rsa := mustSigner(t, "vendor-rsa", attesttest.RSAKey())
	v := mustVerifier(t, mustKeyring(t, vendor, rsa))
	cases := []struct {
		name   string
		signer *attesttest.Signer
		opts   []attesttest.OccurrenceOption
	}{
		{"pgp armored", vendor, nil},
		{"pgp binary as base64", vendor, []attesttest.OccurrenceOption{attesttest.WithEncoding(attesttest.Binary)}},
		{"generic armored", vendor, []attesttest.OccurrenceOption{attesttest.Generic()}},
		{"generic binary", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.WithEncoding(attesttest.Binary)}},
		{"generic without serializedPayload", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.NoSerializedPayload()}},
		{"rsa key", rsa, nil},
		{"binauthz type", vendor, []attesttest.OccurrenceOption{attesttest.SignType(attest.TypeBinauthz)}},
		{"reference with tag", vendor, []attesttest.OccurrenceOption{attesttest.SignDockerReference(repo + ":5.0.3")}},
		{"reference with digest", vendor, []attesttest.OccurrenceOption{attesttest.SignDockerReference(repo + "@" + string(dgA))}},
		{"host case", vendor, []attesttest.OccurrenceOption{attesttest.SignDockerReference(strings.ToUpper("docker.external.thoughtmachine.io") + "/vault/xpl/xpl_payees")}},
		{"key id as long key id", vendor, []attesttest.OccurrenceOption{attesttest.KeyIDField(strings.ToLower(vendor.KeyID()))}},
		{"key id as openpgp4fpr URI", vendor, []attesttest.OccurrenceOption{attesttest.KeyIDField("openpgp4fpr:" + vendor.Fingerprint())}},
		{"no key id", vendor, []attesttest.OccurrenceOption{attesttest.KeyIDField("")}},
		{"resource uri with tag and upper hex", vendor, []attesttest.OccurrenceOption{attesttest.ResourceURI("https://" + repo + ":5.0.3@sha256:" + strings.ToUpper(dgA.Encoded()))}},
		{"resource uri without scheme", vendor, []attesttest.OccurrenceOption{attesttest.ResourceURI(repo + "@" + string(dgA))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := mustOcc(t, tc.signer, subA, tc.opts...)
			ver, err := v.Verify(subA, []attest.Occurrence{o})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ver.Occurrence != o.Name || ver.Fingerprint != tc.signer.Fingerprint() || ver.PayloadType == "" || ver.SignedAt.IsZero() {
				t.Errorf("verification = %+v", ver)
			}
		})
	}
}

// TestVerifyAttacks is the attack matrix of issue 4: each case is rejected with its own reason.
func TestVerifyAttacks(t *testing.T) {
	now := time.Now()
	vendor := mustSigner(t, "vendor")
	other := mustSigner(t, "attacker")
	expiring := mustSigner(t, "expiring", attesttest.KeyCreatedAt(now.Add(-48*time.Hour)), attesttest.KeyLifetime(24*time.Hour))
	revoked := mustSigner(t, "revoked")
	if err := revoked.Revoke(now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, mustKeyring(t, vendor, expiring, revoked))

	// A valid signature over the subject's payload, to splice into other occurrences.
	otherPayload := attesttest.Payload(attest.TypeAtomic, dgA, repo+"-other", "x", 1)

	cases := []struct {
		name   string
		signer *attesttest.Signer
		opts   []attesttest.OccurrenceOption
		want   error
	}{
		{"another key", other, nil, attest.ErrUnknownKey},
		{"another digest", vendor, []attesttest.OccurrenceOption{attesttest.SignDigest(dgB)}, attest.ErrDigestMismatch},
		{"another repository", vendor, []attesttest.OccurrenceOption{attesttest.SignRepository("docker.external.thoughtmachine.io/vault/xpl/xpl_other")}, attest.ErrRepositoryMismatch},
		{"repository prefix", vendor, []attesttest.OccurrenceOption{attesttest.SignRepository("docker.external.thoughtmachine.io/vault/xpl")}, attest.ErrRepositoryMismatch},
		{"repository case", vendor, []attesttest.OccurrenceOption{attesttest.SignRepository("docker.external.thoughtmachine.io/vault/xpl/XPL_payees")}, attest.ErrRepositoryMismatch},
		{"another host", vendor, []attesttest.OccurrenceOption{attesttest.SignRepository("evil.example:5000/vault/xpl/xpl_payees")}, attest.ErrRepositoryMismatch},
		{"reference pins another digest", vendor, []attesttest.OccurrenceOption{attesttest.SignDockerReference(repo + "@" + string(dgB))}, attest.ErrDigestMismatch},
		{"expired key", expiring, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(-time.Hour))}, attest.ErrKeyExpired},
		{"revoked key", revoked, nil, attest.ErrKeyRevoked},
		{"revoked key, signed before revocation", revoked, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(-30 * time.Minute))}, attest.ErrKeyRevoked},
		{"signed in the future", vendor, []attesttest.OccurrenceOption{attesttest.SignedAt(now.Add(time.Hour))}, attest.ErrSignedInFuture},
		{"clear-signed", vendor, []attesttest.OccurrenceOption{attesttest.WithEncoding(attesttest.ClearSigned)}, attest.ErrClearSigned},
		{"clear-signed generic", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.WithEncoding(attesttest.ClearSigned)}, attest.ErrClearSigned},
		{"detached", vendor, []attesttest.OccurrenceOption{attesttest.WithEncoding(attesttest.Detached)}, attest.ErrDetached},
		{"detached generic", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.WithEncoding(attesttest.Detached)}, attest.ErrDetached},
		{"content differs from serializedPayload", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.SerializedPayload(attesttest.Payload(attest.TypeAtomic, dgA, repo, "x", 2))}, attest.ErrPayloadMismatch},
		{"serializedPayload names the image, signature another repository", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.SignPayload(otherPayload), attesttest.SerializedPayload(attesttest.Payload(attest.TypeAtomic, dgA, repo, "x", 1))}, attest.ErrPayloadMismatch},
		{"truncated armor", vendor, []attesttest.OccurrenceOption{attesttest.TruncateArmor()}, attest.ErrBadEncoding},
		{"garbage base64", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.RawSignature("!!not base64!!")}, attest.ErrBadEncoding},
		{"garbage in pgp signature", vendor, []attesttest.OccurrenceOption{attesttest.RawSignature("-----BEGIN PGP MESSAGE-----\n\nAAAA\n-----END PGP MESSAGE-----\n")}, attest.ErrBadEncoding},
		{"base64 of garbage", vendor, []attesttest.OccurrenceOption{attesttest.Generic(), attesttest.RawSignature(base64.StdEncoding.EncodeToString([]byte("hello world")))}, attest.ErrBadEncoding},
		{"key id names another key", vendor, []attesttest.OccurrenceOption{attesttest.KeyIDField(other.Fingerprint())}, attest.ErrKeyIDMismatch},
		{"key id too short", vendor, []attesttest.OccurrenceOption{attesttest.KeyIDField(vendor.KeyID()[8:])}, attest.ErrKeyIDMismatch},
		{"unknown type", vendor, []attesttest.OccurrenceOption{attesttest.SignType("cosign container image signature")}, attest.ErrUnknownType},
		{"payload not JSON", vendor, []attesttest.OccurrenceOption{attesttest.SignPayload([]byte("sha256:" + dgA.Encoded()))}, attest.ErrBadPayload},
		{"payload duplicate key", vendor, []attesttest.OccurrenceOption{attesttest.SignPayload([]byte(`{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"` + string(dgB) + `","docker-manifest-digest":"` + string(dgA) + `"},"identity":{"docker-reference":"` + repo + `"}}}`))}, attest.ErrBadPayload},
		{"payload unknown critical key", vendor, []attesttest.OccurrenceOption{attesttest.SignPayload([]byte(`{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"` + string(dgA) + `"},"identity":{"docker-reference":"` + repo + `"},"extra":1}}`))}, attest.ErrBadPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := mustOcc(t, tc.signer, subA, tc.opts...)
			ver, err := v.Verify(subA, []attest.Occurrence{o})
			if err == nil {
				t.Fatalf("accepted: %+v", ver)
			}
			if !errors.Is(err, attest.ErrRejected) || !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want ErrRejected and %v", err, tc.want)
			}
			if errors.Is(err, attest.ErrNoAttestation) {
				t.Errorf("error matches ErrNoAttestation: %v", err)
			}
			var re *attest.RejectedError
			if !errors.As(err, &re) || len(re.Reasons) != 1 || re.Reasons[0].Occurrence != o.Name || re.Reasons[0].Err != tc.want {
				t.Errorf("RejectedError = %#v", re)
			}
		})
	}
}

func TestVerifyNoOccurrence(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	v := mustVerifier(t, mustKeyring(t, vendor))
	otherImage := mustOcc(t, vendor, attest.Subject{Repository: repo, Digest: dgB})
	for name, occs := range map[string][]attest.Occurrence{
		"none":                         nil,
		"only another image's (valid)": {otherImage},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(subA, occs)
			if !errors.Is(err, attest.ErrNoAttestation) || !errors.Is(err, attest.ErrRejected) {
				t.Fatalf("error = %v, want ErrNoAttestation", err)
			}
		})
	}
}

// A valid occurrence of another image whose resource.uri is rewritten to name ours must be
// rejected on the payload's digest, not accepted on the URI.
func TestVerifyRelabelledOccurrence(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	v := mustVerifier(t, mustKeyring(t, vendor))
	o := mustOcc(t, vendor, attest.Subject{Repository: repo, Digest: dgB}, attesttest.ResourceURI(subA.ResourceURL()))
	if _, err := v.Verify(subA, []attest.Occurrence{o}); !errors.Is(err, attest.ErrDigestMismatch) {
		t.Fatalf("error = %v, want ErrDigestMismatch", err)
	}
}

func TestVerifySeveralOccurrences(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	other := mustSigner(t, "other")
	v := mustVerifier(t, mustKeyring(t, vendor))
	bad1 := mustOcc(t, other, subA)
	bad2 := mustOcc(t, vendor, subA, attesttest.SignDigest(dgB))
	good := mustOcc(t, vendor, subA, attesttest.Generic())
	ver, err := v.Verify(subA, []attest.Occurrence{bad1, bad2, good})
	if err != nil {
		t.Fatal(err)
	}
	if ver.Occurrence != good.Name {
		t.Errorf("verified by %q, want %q", ver.Occurrence, good.Name)
	}
	_, err = v.Verify(subA, []attest.Occurrence{bad1, bad2})
	var re *attest.RejectedError
	if !errors.As(err, &re) || len(re.Reasons) != 2 || !errors.Is(err, attest.ErrUnknownKey) || !errors.Is(err, attest.ErrDigestMismatch) {
		t.Fatalf("error = %v", err)
	}
}

// The generic form may carry several signatures; one valid is enough.
func TestVerifyGenericSeveralSignatures(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	other := mustSigner(t, "other")
	v := mustVerifier(t, mustKeyring(t, vendor))
	good := mustOcc(t, vendor, subA, attesttest.Generic())
	bad := mustOcc(t, other, subA, attesttest.Generic())
	var g, b map[string]any
	_ = json.Unmarshal(good.Raw, &g)
	_ = json.Unmarshal(bad.Raw, &b)
	gs := g["attestation"].(map[string]any)["attestation"].(map[string]any)["genericSignedAttestation"].(map[string]any)
	bs := b["attestation"].(map[string]any)["attestation"].(map[string]any)["genericSignedAttestation"].(map[string]any)
	gs["signatures"] = append(bs["signatures"].([]any), gs["signatures"].([]any)...)
	raw, _ := json.Marshal(g)
	o, err := attest.ParseOccurrence(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(subA, []attest.Occurrence{o}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyPinning(t *testing.T) {
	a := mustSigner(t, "a")
	b := mustSigner(t, "b")
	kr := mustKeyring(t, a, b)
	fpr := strings.ToLower(a.Fingerprint())
	spaced := fpr[:4] + " " + fpr[4:20] + " " + fpr[20:]
	v := mustVerifier(t, kr, attest.WithFingerprints(spaced))
	if _, err := v.Verify(subA, []attest.Occurrence{mustOcc(t, a, subA)}); err != nil {
		t.Fatalf("pinned key rejected: %v", err)
	}
	if _, err := v.Verify(subA, []attest.Occurrence{mustOcc(t, b, subA)}); !errors.Is(err, attest.ErrUnknownKey) {
		t.Fatalf("unpinned key: error = %v, want ErrUnknownKey", err)
	}
	// A key rotation: both keys pinned, both in the key file; a third key in the file,
	// not pinned, still refused.
	c := mustSigner(t, "c")
	both := mustVerifier(t, mustKeyring(t, a, b, c), attest.WithFingerprints(a.Fingerprint(), b.Fingerprint()))
	for _, s := range []*attesttest.Signer{a, b} {
		if _, err := both.Verify(subA, []attest.Occurrence{mustOcc(t, s, subA)}); err != nil {
			t.Errorf("rotation, both pinned: a signature by one rejected: %v", err)
		}
	}
	if _, err := both.Verify(subA, []attest.Occurrence{mustOcc(t, c, subA)}); !errors.Is(err, attest.ErrUnknownKey) {
		t.Errorf("rotation: the unpinned third key: error = %v, want ErrUnknownKey", err)
	}
	if _, err := attest.NewVerifier(kr, attest.WithFingerprints(c.Fingerprint())); err == nil {
		t.Error("pin of a key not in the keyring accepted")
	}
	if _, err := attest.NewVerifier(kr, attest.WithFingerprints("1234")); err == nil {
		t.Error("short pin accepted")
	}
}

// go-crypto checks key expiry at "now"; the rule is validity at signing time.
func TestVerifyKeyExpiry(t *testing.T) {
	now := time.Now()
	s := mustSigner(t, "expiring", attesttest.KeyCreatedAt(now.Add(-48*time.Hour)), attesttest.KeyLifetime(24*time.Hour))
	v := mustVerifier(t, mustKeyring(t, s))
	// Signed while the key was valid, verified after it expired: accepted.
	ok := mustOcc(t, s, subA, attesttest.SignedAt(now.Add(-36*time.Hour)))
	if _, err := v.Verify(subA, []attest.Occurrence{ok}); err != nil {
		t.Errorf("signed within validity: %v", err)
	}
	// Signed before the key existed: rejected.
	early := mustOcc(t, s, subA, attesttest.SignedAt(now.Add(-72*time.Hour)))
	if _, err := v.Verify(subA, []attest.Occurrence{early}); !errors.Is(err, attest.ErrKeyExpired) {
		t.Errorf("signed before key creation: %v", err)
	}
	// With the clock back within validity, signed after expiry is in the future: rejected.
	vPast := mustVerifier(t, mustKeyring(t, s), attest.WithClock(func() time.Time { return now.Add(-30 * time.Hour) }))
	late := mustOcc(t, s, subA, attesttest.SignedAt(now.Add(-time.Hour)))
	if _, err := vPast.Verify(subA, []attest.Occurrence{late}); err == nil {
		t.Error("signature from the future accepted")
	}
}

func TestVerifyInvalidSubject(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	v := mustVerifier(t, mustKeyring(t, vendor))
	for _, s := range []attest.Subject{{Repository: repo}, {Digest: dgA}, {Repository: "noslash", Digest: dgA}} {
		if _, err := v.Verify(s, nil); !errors.Is(err, attest.ErrRejected) {
			t.Errorf("%v: error = %v", s, err)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	v := mustVerifier(t, mustKeyring(t, vendor))
	o := mustOcc(t, vendor, subA)
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := v.Verify(subA, []attest.Occurrence{o})
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestUnknownKeyID: a signature by a key the verifier does not use (not in the keyring, or
// in it but not pinned) is refused with the signer's key id as a field of the Reason, from
// an *UnknownKeyError that matches ErrUnknownKey; the reason's text is as it was. Other
// reasons carry no key id.
func TestUnknownKeyID(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	other := mustSigner(t, "other")
	for name, v := range map[string]*attest.Verifier{
		"not in the keyring":       mustVerifier(t, mustKeyring(t, vendor)),
		"in the keyring, unpinned": mustVerifier(t, mustKeyring(t, vendor, other), attest.WithFingerprints(vendor.Fingerprint())),
	} {
		_, err := v.Verify(subA, []attest.Occurrence{mustOcc(t, other, subA), mustOcc(t, vendor, subA, attesttest.SignDigest(dgB))})
		var re *attest.RejectedError
		if !errors.As(err, &re) || len(re.Reasons) != 2 {
			t.Fatalf("%s: %v, want a rejection with two reasons", name, err)
		}
		r := re.Reasons[0]
		if r.Err != attest.ErrUnknownKey || r.KeyID != other.KeyID() || r.Reason != "signed by a key that is not in the attestor keyring: key id "+other.KeyID() {
			t.Errorf("%s: %+v, want ErrUnknownKey with key id %s", name, r, other.KeyID())
		}
		if r := re.Reasons[1]; r.Err != attest.ErrDigestMismatch || r.KeyID != "" {
			t.Errorf("%s: %+v, want a digest mismatch without a key id", name, r)
		}
	}
	uk := error(&attest.UnknownKeyError{KeyID: "0123456789ABCDEF"})
	if !errors.Is(uk, attest.ErrUnknownKey) || uk.Error() != "signed by a key that is not in the attestor keyring: key id 0123456789ABCDEF" {
		t.Errorf("%v: does not match ErrUnknownKey, or says it otherwise", uk)
	}
}
