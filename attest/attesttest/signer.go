package attesttest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
)

// Signer holds a throwaway OpenPGP key (ed25519) with its private part.
type Signer struct {
	Entity *openpgp.Entity
	// subkey, when set, is the signing subkey messages are signed with.
	subkey *openpgp.Subkey
}

// SignerOption configures NewSignerWith.
type SignerOption func(*signerOptions)

type signerOptions struct {
	created     time.Time
	lifetime    time.Duration
	rsa         bool
	subkey      bool
	subLifetime time.Duration
	selfHash    crypto.Hash
}

// SigningSubkey adds a signing subkey, created with the key, that expires lifetime after
// its creation (0: never); messages are then signed with the subkey.
func SigningSubkey(lifetime time.Duration) SignerOption {
	return func(o *signerOptions) { o.subkey, o.subLifetime = true, lifetime }
}

// SelfSignatureHash re-makes the key's self-signatures (user id certification and subkey
// binding, with its embedded back signature) with hash h, e.g. crypto.SHA1 as old GnuPG
// versions did.
func SelfSignatureHash(h crypto.Hash) SignerOption { return func(o *signerOptions) { o.selfHash = h } }

// KeyCreatedAt sets the key's creation time. Default: now minus one hour (so signatures
// made "now" by a test clock slightly behind are still after key creation).
func KeyCreatedAt(t time.Time) SignerOption { return func(o *signerOptions) { o.created = t } }

// KeyLifetime makes the key expire this long after its creation. Default: never.
func KeyLifetime(d time.Duration) SignerOption { return func(o *signerOptions) { o.lifetime = d } }

// RSAKey makes an RSA 2048 key instead of ed25519.
func RSAKey() SignerOption { return func(o *signerOptions) { o.rsa = true } }

// NewSigner makes a fresh ed25519 key with the user id "name <name@attesttest.invalid>".
func NewSigner(name string) (*Signer, error) { return NewSignerWith(name) }

// NewSignerWith makes a fresh key with options.
func NewSignerWith(name string, opts ...SignerOption) (*Signer, error) {
	o := signerOptions{created: time.Now().Add(-time.Hour)}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := &packet.Config{
		Algorithm:   packet.PubKeyAlgoEdDSA,
		DefaultHash: crypto.SHA256,
		Time:        func() time.Time { return o.created },
	}
	if o.rsa {
		cfg.Algorithm, cfg.RSABits = packet.PubKeyAlgoRSA, 2048
	}
	if o.lifetime > 0 {
		cfg.KeyLifetimeSecs = uint32(o.lifetime / time.Second)
	}
	e, err := openpgp.NewEntity(name, "attesttest", name+"@attesttest.invalid", cfg)
	if err != nil {
		return nil, fmt.Errorf("generating key for %q: %w", name, err)
	}
	s := &Signer{Entity: e}
	if o.subkey {
		scfg := *cfg
		scfg.KeyLifetimeSecs = uint32(o.subLifetime / time.Second)
		if err := e.AddSigningSubkey(&scfg); err != nil {
			return nil, fmt.Errorf("adding a signing subkey for %q: %w", name, err)
		}
		s.subkey = &e.Subkeys[len(e.Subkeys)-1]
	}
	if o.selfHash != 0 {
		hcfg := *cfg
		if _, err := packet.SaltLengthForHash(o.selfHash); err != nil {
			hcfg.NonDeterministicSignaturesViaNotation = new(bool)
		}
		for uid, id := range e.Identities {
			id.SelfSignature.Hash = o.selfHash
			if err := id.SelfSignature.SignUserId(uid, e.PrimaryKey, e.PrivateKey, &hcfg); err != nil {
				return nil, fmt.Errorf("re-signing user id with %v: %w", o.selfHash, err)
			}
			id.Signatures = []*packet.Signature{id.SelfSignature}
		}
		for i := range e.Subkeys {
			sk := &e.Subkeys[i]
			sk.Sig.Hash = o.selfHash
			if emb := sk.Sig.EmbeddedSignature; emb != nil {
				emb.Hash = o.selfHash
				if err := emb.CrossSignKey(sk.PublicKey, e.PrimaryKey, sk.PrivateKey, &hcfg); err != nil {
					return nil, fmt.Errorf("re-signing back signature with %v: %w", o.selfHash, err)
				}
			}
			if err := sk.Sig.SignKey(sk.PublicKey, e.PrivateKey, &hcfg); err != nil {
				return nil, fmt.Errorf("re-signing subkey binding with %v: %w", o.selfHash, err)
			}
		}
	}
	return s, nil
}

// SigningKeyID is the key id of the key messages are signed with (the signing subkey when
// there is one), 16 upper-case hex digits.
func (s *Signer) SigningKeyID() string {
	if s.subkey != nil {
		return fmt.Sprintf("%016X", s.subkey.PublicKey.KeyId)
	}
	return s.KeyID()
}

// RevokeSigningSubkey adds a revocation of the signing subkey (reason: key compromised)
// made at t.
func (s *Signer) RevokeSigningSubkey(t time.Time) error {
	if s.subkey == nil {
		return errors.New("attesttest: the signer has no signing subkey")
	}
	return s.Entity.RevokeSubkey(s.subkey, packet.KeyCompromised, "attesttest", &packet.Config{Time: func() time.Time { return t }})
}

// Fingerprint is the primary key's fingerprint, upper-case hex.
func (s *Signer) Fingerprint() string { return fmt.Sprintf("%X", s.Entity.PrimaryKey.Fingerprint) }

// KeyID is the primary key's key id, 16 upper-case hex digits.
func (s *Signer) KeyID() string { return fmt.Sprintf("%016X", s.Entity.PrimaryKey.KeyId) }

// ArmoredPublicKey is the public key (with any revocation) as an armored key file.
func (s *Signer) ArmoredPublicKey() ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Entity.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Keyring is the public key as an entity list, ready for attest.NewVerifier.
func (s *Signer) Keyring() (openpgp.EntityList, error) {
	pub, err := s.ArmoredPublicKey()
	if err != nil {
		return nil, err
	}
	return attest.ReadKeyring(bytes.NewReader(pub))
}

// Revoke adds a key revocation (reason: key compromised) made at t.
func (s *Signer) Revoke(t time.Time) error {
	return s.Entity.RevokeKey(packet.KeyCompromised, "attesttest", &packet.Config{Time: func() time.Time { return t }})
}

// Form is the attestation form of an occurrence.
type Form int

const (
	// PGPForm is attestation.attestation.pgpSignedAttestation (armored signature string).
	PGPForm Form = iota
	// GenericForm is genericSignedAttestation with base64 signatures and serializedPayload.
	GenericForm
)

// Encoding is how the signed message is made.
type Encoding int

const (
	Armored     Encoding = iota // attached, armored (gpg --armor --sign)
	Binary                      // attached, binary (gpg --sign)
	ClearSigned                 // clear-signed text (gpg --clearsign): must be rejected
	Detached                    // armored detached signature (gpg --armor --detach-sign): must be rejected
)

// OccurrenceOption changes what Occurrence makes; most exist for attack tests.
type OccurrenceOption func(*occOptions)

type occOptions struct {
	form          Form
	enc           Encoding
	digest        digest.Digest
	repository    string
	dockerRef     string
	typ           string
	payload       []byte
	serialized    []byte
	hasSerialized bool
	noSerialized  bool
	keyID         *string
	signedAt      time.Time
	name          string
	resourceURI   string
	signature     *string
	creator       string
	truncate      bool
	hash          crypto.Hash
	hashID        byte
}

// SignHash signs with hash h instead of SHA-256 (e.g. crypto.SHA1 for attack tests).
func SignHash(h crypto.Hash) OccurrenceOption { return func(o *occOptions) { o.hash = h } }

// SignHashID signs with SHA-256, then overwrites the hash algorithm id in the one-pass
// signature and signature packets with id (RFC 9580 §9.5: 1 MD5, 2 SHA-1, 3 RIPEMD-160),
// for hashes go-crypto cannot sign with. The signature then does not verify either.
func SignHashID(id byte) OccurrenceOption { return func(o *occOptions) { o.hashID = id } }

// Generic makes a genericSignedAttestation occurrence.
func Generic() OccurrenceOption { return func(o *occOptions) { o.form = GenericForm } }

// WithEncoding sets how the message is signed. Default: Armored.
func WithEncoding(e Encoding) OccurrenceOption { return func(o *occOptions) { o.enc = e } }

// SignDigest signs this digest instead of the subject's (the resource URI stays the subject's).
func SignDigest(d digest.Digest) OccurrenceOption { return func(o *occOptions) { o.digest = d } }

// SignRepository signs this repository instead of the subject's.
func SignRepository(r string) OccurrenceOption { return func(o *occOptions) { o.repository = r } }

// SignDockerReference sets critical.identity.docker-reference verbatim. Default: the
// signed repository, without tag.
func SignDockerReference(ref string) OccurrenceOption {
	return func(o *occOptions) { o.dockerRef = ref }
}

// SignType sets critical.type. Default: "atomic container signature".
func SignType(t string) OccurrenceOption { return func(o *occOptions) { o.typ = t } }

// SignPayload signs these bytes verbatim instead of a generated payload.
func SignPayload(p []byte) OccurrenceOption { return func(o *occOptions) { o.payload = p } }

// SerializedPayload puts these bytes into serializedPayload (GenericForm) instead of the
// signed payload.
func SerializedPayload(p []byte) OccurrenceOption {
	return func(o *occOptions) { o.serialized, o.hasSerialized = p, true }
}

// NoSerializedPayload leaves serializedPayload out (GenericForm).
func NoSerializedPayload() OccurrenceOption { return func(o *occOptions) { o.noSerialized = true } }

// KeyIDField sets publicKeyId/pgpKeyId. Default: the signer's fingerprint.
func KeyIDField(id string) OccurrenceOption { return func(o *occOptions) { o.keyID = &id } }

// SignedAt sets the signature's creation time, even outside the key's validity (for
// attack tests). Default: now.
func SignedAt(t time.Time) OccurrenceOption { return func(o *occOptions) { o.signedAt = t } }

// Name sets the occurrence name. Default: "projects/tm-attestations-project/occurrences/<hex>".
func Name(n string) OccurrenceOption { return func(o *occOptions) { o.name = n } }

// ResourceURI sets resource.uri. Default: the subject's ResourceURL.
func ResourceURI(u string) OccurrenceOption { return func(o *occOptions) { o.resourceURI = u } }

// RawSignature puts s into the signature field verbatim (for the generic form it is
// used as the base64 text), bypassing signing.
func RawSignature(s string) OccurrenceOption { return func(o *occOptions) { o.signature = &s } }

// Creator sets optional.creator. Default: "attesttest".
func Creator(c string) OccurrenceOption { return func(o *occOptions) { o.creator = c } }

// TruncateArmor cuts the armored message in the middle.
func TruncateArmor() OccurrenceOption { return func(o *occOptions) { o.truncate = true } }

// NoteName is the note of the occurrences this package makes.
const NoteName = "projects/tm-attestations-project/notes/tm-release-attestor-note"

// Payload returns simple-signing JSON for a digest and docker reference.
func Payload(typ string, d digest.Digest, dockerRef, creator string, ts int64) []byte {
	p := map[string]any{
		"critical": map[string]any{
			"type":     typ,
			"image":    map[string]string{"docker-manifest-digest": string(d)},
			"identity": map[string]string{"docker-reference": dockerRef},
		},
		"optional": map[string]any{"creator": creator, "timestamp": ts},
	}
	b, _ := json.Marshal(p)
	return b
}

// Occurrence returns a signed attestation occurrence for sub as the server serves it.
func (s *Signer) Occurrence(sub attest.Subject, opts ...OccurrenceOption) (json.RawMessage, error) {
	o := occOptions{digest: sub.Digest, repository: sub.Repository, typ: attest.TypeAtomic, creator: "attesttest"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.signedAt.IsZero() {
		o.signedAt = time.Now()
	}
	if o.dockerRef == "" {
		o.dockerRef = o.repository
	}
	payload := o.payload
	if payload == nil {
		payload = Payload(o.typ, o.digest, o.dockerRef, o.creator, o.signedAt.Unix())
	}
	keyID := s.Fingerprint()
	if o.keyID != nil {
		keyID = *o.keyID
	}
	var sig []byte
	if o.signature != nil {
		sig = []byte(*o.signature)
	} else {
		var err error
		sig, err = s.sign(payload, o.enc, o.signedAt, o.hash, o.hashID)
		if err != nil {
			return nil, err
		}
		if o.truncate {
			sig = sig[:len(sig)/2]
		}
	}
	if o.name == "" {
		var id [8]byte
		_, _ = rand.Read(id[:])
		o.name = fmt.Sprintf("projects/tm-attestations-project/occurrences/%x", id)
	}
	if o.resourceURI == "" {
		o.resourceURI = sub.ResourceURL()
	}
	var att map[string]any
	switch o.form {
	case PGPForm:
		att = map[string]any{"pgpSignedAttestation": map[string]any{
			"signature": string(sig), "contentType": "SIMPLE_SIGNING_JSON", "pgpKeyId": keyID,
		}}
		if o.enc == Binary && o.signature == nil {
			att["pgpSignedAttestation"].(map[string]any)["signature"] = base64.StdEncoding.EncodeToString(sig)
		}
	case GenericForm:
		sigText := base64.StdEncoding.EncodeToString(sig)
		if o.signature != nil {
			sigText = *o.signature
		}
		g := map[string]any{
			"contentType": "SIMPLE_SIGNING_JSON",
			"signatures":  []map[string]string{{"publicKeyId": keyID, "signature": sigText}},
		}
		ser := payload
		if o.hasSerialized {
			ser = o.serialized
		}
		if !o.noSerialized {
			g["serializedPayload"] = base64.StdEncoding.EncodeToString(ser)
		}
		att = map[string]any{"genericSignedAttestation": g}
	default:
		return nil, errors.New("unknown form")
	}
	occ := map[string]any{
		"name":        o.name,
		"resource":    map[string]string{"uri": o.resourceURI},
		"noteName":    NoteName,
		"kind":        "ATTESTATION",
		"createTime":  o.signedAt.UTC().Format(time.RFC3339Nano),
		"attestation": map[string]any{"attestation": att},
	}
	return json.Marshal(occ)
}

// Sign makes an OpenPGP message over payload with creation time t. It signs packet by
// packet so that it can sign with an expired or revoked key (go-crypto's openpgp.Sign
// refuses), which attack tests need.
func (s *Signer) Sign(payload []byte, enc Encoding, t time.Time) ([]byte, error) {
	return s.sign(payload, enc, t, 0, 0)
}

// SignHashed is Sign with message hash h (0: SHA-256).
func (s *Signer) SignHashed(payload []byte, enc Encoding, t time.Time, h crypto.Hash) ([]byte, error) {
	return s.sign(payload, enc, t, h, 0)
}

func (s *Signer) sign(payload []byte, enc Encoding, t time.Time, hash crypto.Hash, patchID byte) ([]byte, error) {
	if hash == 0 {
		hash = crypto.SHA256
	}
	priv := s.Entity.PrivateKey
	if s.subkey != nil {
		priv = s.subkey.PrivateKey
	}
	cfg := &packet.Config{DefaultHash: hash, Time: func() time.Time { return t }}
	if _, err := packet.SaltLengthForHash(hash); err != nil {
		// go-crypto's salt notation exists for SHA-2/SHA-3 only.
		cfg.NonDeterministicSignaturesViaNotation = new(bool)
	}
	newSig := func(typ packet.SignatureType) *packet.Signature {
		return &packet.Signature{
			Version: priv.PublicKey.Version, SigType: typ, PubKeyAlgo: priv.PublicKey.PubKeyAlgo,
			Hash: hash, CreationTime: t, IssuerKeyId: &priv.KeyId,
			IssuerFingerprint: priv.PublicKey.Fingerprint,
		}
	}
	switch enc {
	case ClearSigned:
		// Clear signing goes through go-crypto's clearsign package, which checks validity
		// at cfg.Time; fine for the clear-signed attack (the key is valid then).
		var buf bytes.Buffer
		return clearSign(&buf, s.Entity, payload, cfg)
	case Detached:
		sig := newSig(packet.SigTypeBinary)
		h, err := sig.PrepareSign(cfg)
		if err != nil {
			return nil, err
		}
		h.Write(payload)
		if err := sig.Sign(h, priv, cfg); err != nil {
			return nil, err
		}
		return armorBytes("PGP SIGNATURE", sig.Serialize)
	}
	sig := newSig(packet.SigTypeBinary)
	h, err := sig.PrepareSign(cfg)
	if err != nil {
		return nil, err
	}
	var bin bytes.Buffer
	ops := &packet.OnePassSignature{Version: 3, SigType: packet.SigTypeBinary, Hash: hash,
		PubKeyAlgo: priv.PublicKey.PubKeyAlgo, KeyId: priv.KeyId, IsLast: true}
	if err := ops.Serialize(&bin); err != nil {
		return nil, err
	}
	if patchID != 0 {
		// A one-pass signature packet is short: 2-byte header, then version, type, hash.
		bin.Bytes()[2+2] = patchID
	}
	lw, err := packet.SerializeLiteral(nopCloser{&bin}, true, "payload.json", uint32(t.Unix()))
	if err != nil {
		return nil, err
	}
	if _, err := lw.Write(payload); err != nil {
		return nil, err
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	h.Write(payload)
	if err := sig.Sign(h, priv, cfg); err != nil {
		return nil, err
	}
	var sigBuf bytes.Buffer
	if err := sig.Serialize(&sigBuf); err != nil {
		return nil, err
	}
	if patchID != 0 {
		// New-format header (1 tag byte + 1, 2 or 5 length bytes), then version 4, type,
		// public-key algorithm, hash algorithm.
		b := sigBuf.Bytes()
		hdr := 2
		switch {
		case b[1] >= 192 && b[1] < 224:
			hdr = 3
		case b[1] == 255:
			hdr = 6
		}
		b[hdr+3] = patchID
	}
	bin.Write(sigBuf.Bytes())
	if enc == Binary {
		return bin.Bytes(), nil
	}
	return armorBytes("PGP MESSAGE", func(w io.Writer) error { _, err := w.Write(bin.Bytes()); return err })
}

func armorBytes(typ string, write func(io.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		return nil, err
	}
	if err := write(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
