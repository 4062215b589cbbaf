package attest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// maxSignedContent bounds the literal data read from a signed message. A simple-signing
// payload is a few hundred bytes.
const maxSignedContent = 1 << 20

// maxKeyringBytes bounds a key file.
const maxKeyringBytes = 16 << 20

// ReadKeyring reads an attestor key file: one or more armored public key blocks (as
// written by `gpg --export --armor`, or such files concatenated), each of which may hold
// several keys with subkeys. A binary keyring is accepted too. An empty keyring is an error.
func ReadKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyringBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading attestor keyring: %w", err)
	}
	if len(data) > maxKeyringBytes {
		return nil, fmt.Errorf("reading attestor keyring: larger than %d bytes", maxKeyringBytes)
	}
	var el openpgp.EntityList
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("reading attestor keyring: %w", err)
		}
	} else {
		rest := data
		for {
			i := bytes.Index(rest, []byte("-----BEGIN "))
			if i < 0 {
				break
			}
			rest = rest[i:]
			blk, err := armor.Decode(bytes.NewReader(rest))
			if err != nil {
				return nil, fmt.Errorf("reading attestor keyring: %w", err)
			}
			if blk.Type != openpgp.PublicKeyType {
				return nil, fmt.Errorf("reading attestor keyring: armor type %q, want %q", blk.Type, openpgp.PublicKeyType)
			}
			part, err := openpgp.ReadKeyRing(blk.Body)
			if err != nil {
				return nil, fmt.Errorf("reading attestor keyring: %w", err)
			}
			el = append(el, part...)
			end := bytes.Index(rest, []byte("-----END "))
			if end < 0 {
				break
			}
			rest = rest[end+len("-----END "):]
		}
	}
	if len(el) == 0 {
		return nil, errors.New("reading attestor keyring: no keys")
	}
	return el, nil
}

// Verifier checks attestations against an attestor keyring. It is safe for concurrent use.
type Verifier struct {
	keyring      openpgp.EntityList
	now          func() time.Time
	log          *slog.Logger
	strictExpiry bool
}

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierOptions) error

type verifierOptions struct {
	fingerprints []string
	now          func() time.Time
	log          *slog.Logger
	strictExpiry bool
}

// WithStrictKeyExpiry refuses a signature whose key (primary key or signing subkey) has
// expired by now, even when the signature is dated inside the key's validity. The refusal
// is a *RejectedError matching ErrKeyExpiredSinceSigning.
//
// Default (without this option): such a signature is accepted, because a key's expiry
// limits when it may sign, not how long its signatures count; but the signing time is the
// signer's own claim, so a holder of an expired key could backdate. The acceptance is
// therefore reported: [Verification.KeyExpired] is true and [Verification.KeyExpiresAt]
// says when. A signature dated outside the key's validity (before its creation or after its
// expiry) is always refused (ErrKeyExpired), and so is a signature from a revoked key or
// subkey whatever the dates (ErrKeyRevoked): a revocation may be for compromise, after
// which a signing time proves nothing.
func WithStrictKeyExpiry() VerifierOption {
	return func(o *verifierOptions) error {
		o.strictExpiry = true
		return nil
	}
}

// WithFingerprints pins the verifier to these primary-key fingerprints (hex; case, spaces
// and a "0x" prefix are ignored). Keys of the keyring not listed are not used; a listed
// fingerprint that is not in the keyring is an error. Default: every key of the keyring.
func WithFingerprints(fprs ...string) VerifierOption {
	return func(o *verifierOptions) error {
		for _, f := range fprs {
			if err := CheckFingerprint(f); err != nil {
				return err
			}
			o.fingerprints = append(o.fingerprints, normHex(f))
		}
		return nil
	}
}

// WithClock sets the clock used for expiry and revocation checks. Default: time.Now.
func WithClock(now func() time.Time) VerifierOption {
	return func(o *verifierOptions) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithVerifierLogger sets the logger for debug records of rejected signatures. Default:
// discard.
func WithVerifierLogger(l *slog.Logger) VerifierOption {
	return func(o *verifierOptions) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}

// NewVerifier returns a verifier that trusts the keys of keyring (or, with
// WithFingerprints, only the pinned ones).
func NewVerifier(keyring openpgp.EntityList, opts ...VerifierOption) (*Verifier, error) {
	o := verifierOptions{now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	kr := keyring
	if len(o.fingerprints) > 0 {
		kr = nil
		for _, f := range o.fingerprints {
			found := false
			for _, e := range keyring {
				if e.PrimaryKey != nil && fingerprintHex(e.PrimaryKey.Fingerprint) == f {
					kr = append(kr, e)
					found = true
				}
			}
			if !found {
				var held []string
				for _, e := range keyring {
					if e.PrimaryKey != nil {
						held = append(held, fingerprintHex(e.PrimaryKey.Fingerprint))
					}
				}
				return nil, fmt.Errorf("pinned fingerprint %s is not in the attestor keyring, which holds %s", f, strings.Join(held, ", "))
			}
		}
	}
	if len(kr) == 0 {
		return nil, errors.New("attestor keyring is empty")
	}
	return &Verifier{keyring: kr, now: o.now, log: o.log, strictExpiry: o.strictExpiry}, nil
}

// Verification is the proof that an image is vouched for.
type Verification struct {
	Occurrence  string    // name of the occurrence that verified (control characters escaped)
	Fingerprint string    // primary-key fingerprint, upper-case hex
	KeyID       string    // key id of the (sub)key that signed, upper-case hex
	SignedAt    time.Time // signature creation time
	PayloadType string    // critical.type
	Creator     string    // optional.creator, may be empty (control characters escaped)
	Hash        string    // message-signature hash: "SHA-256", "SHA-512", "SHA3-256", ...

	// KeyExpiresAt is when the signing key stops being valid: the earlier of the primary
	// key's and the signing subkey's expiry. Zero when neither expires.
	KeyExpiresAt time.Time
	// KeyExpired is true when that time has passed (by the verifier's clock): the signature
	// is dated inside the key's validity and was accepted on that claim. Report it; with
	// WithStrictKeyExpiry such a signature is refused instead.
	KeyExpired bool
	// Index is the position, in the occurrences given to Verify, of the one that
	// verified: two occurrences can share a name (a server's mistake, or a hostile one),
	// and the one to keep as evidence is the one that verified, not another of its name.
	Index int
}

// Verify checks that at least one of occs is a valid attestation for s. Occurrences about
// other resources are ignored (the server's filter is not trusted). It returns a
// *RejectedError when none verifies; with no occurrence for s at all, that error also
// matches ErrNoAttestation.
func (v *Verifier) Verify(s Subject, occs []Occurrence) (*Verification, error) {
	if err := s.Digest.Validate(); err != nil || s.Repository == "" || s.key() == "" {
		return nil, &RejectedError{Subject: s, Reasons: []Reason{{Reason: fmt.Sprintf("invalid subject %q", s.String()), Err: ErrMalformed}}}
	}
	key := s.key()
	rej := &RejectedError{Subject: s}
	matched := 0
	for i, o := range occs {
		if resourceKey(o.ResourceURI) != key {
			continue
		}
		matched++
		ver, reasons := v.verifyOccurrence(s, o)
		if ver != nil {
			ver.Index = i
			return ver, nil
		}
		rej.Reasons = append(rej.Reasons, reasons...)
	}
	if matched == 0 {
		rej.NoAttestation = true
	}
	return nil, rej
}

func (v *Verifier) verifyOccurrence(s Subject, o Occurrence) (*Verification, []Reason) {
	reject := func(err error) []Reason {
		v.log.Debug("attestation rejected", "occurrence", o.Name, "subject", s.String(), "reason", err.Error())
		r := Reason{Occurrence: Sanitize(o.Name), Reason: Sanitize(err.Error()), Err: sentinelOf(err)}
		var unknown *UnknownKeyError
		if errors.As(err, &unknown) {
			r.KeyID = unknown.KeyID
		}
		return []Reason{r}
	}
	if resourceKey(o.ResourceURI) != s.key() {
		return nil, reject(fmt.Errorf("%w: %q", ErrResourceMismatch, o.ResourceURI))
	}
	msgs, err := o.signedMessages()
	if err != nil {
		return nil, reject(err)
	}
	var reasons []Reason
	for _, m := range msgs {
		if m.err != nil {
			reasons = append(reasons, reject(m.err)...)
			continue
		}
		ver, err := v.verifyMessage(s, m)
		if err != nil {
			reasons = append(reasons, reject(err)...)
			continue
		}
		ver.Occurrence = Sanitize(o.Name)
		return ver, nil
	}
	return nil, reasons
}

// verifyMessage checks one OpenPGP message: signature first, payload only after.
func (v *Verifier) verifyMessage(s Subject, m signedMessage) (*Verification, error) {
	bin, err := dearmor(m.message)
	if err != nil {
		return nil, err
	}
	if err := checkMessageHashes(bin); err != nil {
		return nil, err
	}
	if err := checkFirstPacket(bin); err != nil {
		return nil, err
	}
	now := v.now()
	content, md, err := v.readSigned(bin, now)
	if err != nil && errors.Is(err, ErrKeyExpired) && md != nil && md.Signature != nil {
		// go-crypto checks key expiry at config.Now(); the rule is validity at signing time.
		// The signature verified and the key is not revoked now (that check comes first);
		// read again with the clock at the signature's creation time, then check the
		// signature's own expiry against now.
		signedAt := md.Signature.CreationTime
		content, md, err = v.readSigned(bin, signedAt)
		if err == nil && md.Signature.SigExpired(now) {
			err = ErrSignatureExpired
		}
	}
	if err != nil {
		if errors.Is(err, ErrSignatureExpired) && md != nil && md.Signature != nil && md.Signature.CreationTime.After(now) {
			// go-crypto calls a signature from the future expired; say what it is.
			return nil, fmt.Errorf("%w: %s", ErrSignedInFuture, md.Signature.CreationTime.UTC().Format(time.RFC3339))
		}
		return nil, err
	}
	sig := md.Signature
	signer := md.SignedBy
	expiresAt := keyExpiry(signer)
	expired := !expiresAt.IsZero() && !now.Before(expiresAt)
	if expired && v.strictExpiry {
		return nil, fmt.Errorf("%w: expired %s, signed %s", ErrKeyExpiredSinceSigning,
			expiresAt.UTC().Format(time.RFC3339), sig.CreationTime.UTC().Format(time.RFC3339))
	}
	if m.keyID != "" && !namesKey(m.keyID, signer) {
		return nil, fmt.Errorf("%w: %q, signed by %s", ErrKeyIDMismatch, m.keyID, fingerprintHex(signer.PublicKey.Fingerprint))
	}
	if m.payload != nil && !bytes.Equal(m.payload, content) {
		return nil, ErrPayloadMismatch
	}
	// Only now is the content trusted enough to be parsed.
	p, err := ParsePayload(content)
	if err != nil {
		return nil, err
	}
	if p.Type != TypeAtomic && p.Type != TypeBinauthz {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, p.Type)
	}
	if p.Digest != s.Digest {
		return nil, fmt.Errorf("%w: signed %s, image is %s", ErrDigestMismatch, p.Digest, s.Digest)
	}
	repo, err := repositoryOf(p.DockerRef, s.Digest)
	if err != nil {
		return nil, err
	}
	if !sameRepository(repo, s.Repository) {
		return nil, fmt.Errorf("%w: signed %q, image is %q", ErrRepositoryMismatch, repo, s.Repository)
	}
	return &Verification{
		Fingerprint:  fingerprintHex(signer.Entity.PrimaryKey.Fingerprint),
		KeyID:        fmt.Sprintf("%016X", signer.PublicKey.KeyId),
		SignedAt:     sig.CreationTime,
		PayloadType:  p.Type,
		Creator:      Sanitize(p.Creator),
		Hash:         hashName(hashIDOf(sig.Hash)),
		KeyExpiresAt: expiresAt,
		KeyExpired:   expired,
	}, nil
}

// keyExpiry is the earlier of the primary key's and the signing subkey's expiry; zero when
// neither expires.
func keyExpiry(k *openpgp.Key) time.Time {
	var out time.Time
	add := func(created time.Time, sig *packet.Signature) {
		if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
			return
		}
		t := created.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
		if out.IsZero() || t.Before(out) {
			out = t
		}
	}
	if k.Entity != nil && k.Entity.PrimaryKey != nil {
		self, _ := k.Entity.PrimarySelfSignature()
		add(k.Entity.PrimaryKey.CreationTime, self)
	}
	if k.Entity != nil && k.PublicKey != k.Entity.PrimaryKey {
		add(k.PublicKey.CreationTime, k.SelfSignature)
	}
	return out
}

// readSigned reads a signed message with the clock at t and returns its content once the
// signature has verified.
func (v *Verifier) readSigned(bin []byte, t time.Time) ([]byte, *openpgp.MessageDetails, error) {
	cfg := &packet.Config{Time: func() time.Time { return t }}
	md, err := openpgp.ReadMessage(bytes.NewReader(bin), v.keyring, nil, cfg)
	if err != nil {
		return nil, nil, classify(err)
	}
	if md.IsEncrypted {
		return nil, nil, fmt.Errorf("%w: message is encrypted", ErrNotSigned)
	}
	if !md.IsSigned {
		return nil, nil, ErrNotSigned
	}
	if md.SignedBy == nil {
		return nil, nil, &UnknownKeyError{KeyID: fmt.Sprintf("%016X", md.SignedByKeyId)}
	}
	if err := checkBindingHashes(md.SignedBy); err != nil {
		return nil, nil, err
	}
	// Read the whole body: the signature is checked only at its end.
	content, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, maxSignedContent+1))
	if err != nil {
		return nil, nil, classify(err)
	}
	if len(content) > maxSignedContent {
		return nil, nil, ErrTooLarge
	}
	if md.Signature != nil {
		// The hash of the signature packet that was verified, whatever the one-pass
		// signature announced.
		if err := hashAllowed(hashIDOf(md.Signature.Hash), "signature"); err != nil {
			return nil, nil, err
		}
	}
	if md.SignatureError != nil {
		return nil, md, classify(md.SignatureError)
	}
	if md.Signature == nil {
		return nil, nil, fmt.Errorf("%w: no signature packet after the content", ErrBadSignature)
	}
	if md.Signature.SigType != packet.SigTypeBinary && md.Signature.SigType != packet.SigTypeText {
		return nil, nil, fmt.Errorf("%w: signature type %d", ErrBadSignature, md.Signature.SigType)
	}
	return content, md, nil
}

// classify maps go-crypto's errors to this package's sentinels, keeping the detail.
func classify(err error) error {
	switch {
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return ErrKeyExpired
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return ErrKeyRevoked
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return ErrSignatureExpired
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return ErrUnknownKey
	}
	var se pgperrors.SignatureError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return fmt.Errorf("%w: %v", ErrBadSignature, err)
}

// dearmor returns the binary form of an armored or binary message, rejecting clear-signed
// messages and armored detached signatures.
func dearmor(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	if !bytes.HasPrefix(t, []byte("-----BEGIN ")) {
		if bytes.Contains(t, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
			return nil, ErrClearSigned
		}
		if len(t) == 0 {
			return nil, ErrNoSignature
		}
		if t[0]&0x80 == 0 {
			return nil, fmt.Errorf("%w: neither armor nor an OpenPGP packet", ErrBadEncoding)
		}
		return b, nil
	}
	if bytes.HasPrefix(t, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, ErrClearSigned
	}
	blk, err := armor.Decode(bytes.NewReader(t))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	switch blk.Type {
	case "PGP MESSAGE":
	case "PGP SIGNATURE":
		return nil, ErrDetached
	default:
		return nil, fmt.Errorf("%w: armor type %q, want PGP MESSAGE", ErrBadEncoding, blk.Type)
	}
	body, err := io.ReadAll(io.LimitReader(blk.Body, 4*maxSignedContent))
	if err != nil {
		// Truncated armor or a bad checksum.
		return nil, fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	return body, nil
}

// checkFirstPacket rejects a binary detached signature: a message that starts with a
// signature packet rather than a one-pass signature, compressed or literal data.
func checkFirstPacket(bin []byte) error {
	p, err := packet.Read(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	if _, ok := p.(*packet.Signature); ok {
		return ErrDetached
	}
	return nil
}

// namesKey reports whether id (full fingerprint or 16-digit key id, any case, spaces,
// "0x" or "openpgp4fpr:" ignored) names the signing (sub)key or its primary key.
func namesKey(id string, k *openpgp.Key) bool {
	n := normHex(id)
	if !isHex(n) {
		return false
	}
	cands := []string{fingerprintHex(k.PublicKey.Fingerprint), fingerprintHex(k.Entity.PrimaryKey.Fingerprint)}
	for _, c := range cands {
		switch len(n) {
		case 40, 64:
			if n == c {
				return true
			}
		case 16:
			if strings.HasSuffix(c, n) {
				return true
			}
		}
	}
	return false
}

func fingerprintHex(b []byte) string { return fmt.Sprintf("%X", b) }

// CheckFingerprint checks a pinned key fingerprint as WithFingerprints takes it: 40 hex
// digits (64 for a v6 key), in any case, with spaces (gpg's grouping), an "0x" or an
// "openpgp4fpr:" before it. A key id (16 or 8 digits) is not a fingerprint: the error says
// so, and how to read the key's fingerprint.
func CheckFingerprint(f string) error {
	n := normHex(f)
	switch {
	case n == "":
		return errors.New("an empty fingerprint (a comma too many?)")
	case isHex(n) && (len(n) == 16 || len(n) == 8):
		return fmt.Errorf("%q is a %d-digit key id, not the key's fingerprint: give its 40 digits (gpg --show-keys --with-fingerprint KEYFILE prints them)", f, len(n))
	case (len(n) != 40 && len(n) != 64) || !isHex(n):
		return fmt.Errorf("%q is not a key fingerprint: want 40 hex digits (64 for a v6 key)", f)
	}
	return nil
}

// normHex normalises a fingerprint or key id: white space removed, upper case, and a
// "0x" or "openpgp4fpr:" prefix (Grafeas' documented form of publicKeyId) dropped.
func normHex(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	s = strings.TrimPrefix(s, "OPENPGP4FPR:")
	return strings.TrimPrefix(s, "0X")
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// sentinelOf returns the first sentinel of this package that err wraps.
func sentinelOf(err error) error {
	for _, s := range []error{
		ErrResourceMismatch, ErrMalformed, ErrNoSignature, ErrBadEncoding, ErrClearSigned,
		ErrDetached, ErrNotSigned, ErrUnknownKey, ErrBadSignature, ErrKeyExpired, ErrKeyRevoked,
		ErrSignatureExpired, ErrSignedInFuture, ErrTooLarge, ErrPayloadMismatch, ErrKeyIDMismatch,
		ErrBadPayload, ErrUnknownType, ErrDigestMismatch, ErrRepositoryMismatch, ErrWeakHash,
		ErrKeyExpiredSinceSigning,
	} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}
