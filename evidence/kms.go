package evidence

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	signatureoptions "github.com/sigstore/sigstore/pkg/signature/options"
)

// Signer makes the bank's signatures. The signature is over the payload's bytes with
// SHA-256, in the encoding cosign verifies (ASN.1 DER for ECDSA, PKCS #1 v1.5 for RSA).
type Signer interface {
	// SignPayload signs payload.
	SignPayload(ctx context.Context, payload []byte) ([]byte, error)
	// PublicKey is the key that verifies the signatures.
	PublicKey() crypto.PublicKey
}

// KMSAPI is the part of the AWS KMS client that KMSSigner uses; *kms.Client has it.
type KMSAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// maxRawMessage is the largest message KMS signs with MessageType RAW.
const maxRawMessage = 4096

// KMSSigner signs with an asymmetric AWS KMS key (kms:Sign); the private key never leaves
// KMS. Keys: ECC_NIST_P256 (ECDSA_SHA_256, the default the issue asks for) or RSA_2048,
// RSA_3072, RSA_4096 (RSASSA_PKCS1_V1_5_SHA_256), the combinations `cosign verify --key`
// accepts with its default SHA-256.
//
// Messages are sent RAW (KMS hashes them with SHA-256): a cosign payload is a few hundred
// bytes, far below KMS's 4096-byte RAW limit. sigstore's own KMS signer sends a DIGEST
// instead; the signatures are the same, but moto (the test bed's KMS) ignores
// MessageType=DIGEST and hashes the digest again, so only RAW lets the production path be
// tested end to end.
type KMSSigner struct {
	api       KMSAPI
	keyID     string // as given: key id, ARN, alias name or alias ARN
	kmsKeyID  string
	algorithm kmstypes.SigningAlgorithmSpec
	pub       crypto.PublicKey
}

// NewKMSSigner reads the public key of keyID (key id, key ARN, "alias/name" or alias ARN)
// and checks that it is a SIGN_VERIFY key of a supported spec. It needs kms:GetPublicKey
// now and kms:Sign later.
func NewKMSSigner(ctx context.Context, api KMSAPI, keyID string) (*KMSSigner, error) {
	if keyID == "" {
		return nil, errors.New("KMS signing key: empty key id")
	}
	out, err := api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("reading the public key of KMS key %q: %w", keyID, err)
	}
	if out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("%w: KMS key %q has usage %s, want SIGN_VERIFY", ErrUnsupportedKey, keyID, out.KeyUsage)
	}
	// moto leaves KeySpec empty (it answers only the deprecated CustomerMasterKeySpec):
	// then the public key itself decides below.
	spec := string(out.KeySpec)
	switch kmstypes.KeySpec(spec) {
	case kmstypes.KeySpecEccNistP256, kmstypes.KeySpecRsa2048, kmstypes.KeySpecRsa3072, kmstypes.KeySpecRsa4096, "":
	default:
		return nil, fmt.Errorf("%w: KMS key %q has key spec %s; cosign verifies ECC_NIST_P256 or RSA_* with SHA-256", ErrUnsupportedKey, keyID, spec)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: KMS key %q: parsing its public key: %v", ErrUnsupportedKey, keyID, err)
	}
	var alg kmstypes.SigningAlgorithmSpec
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: KMS key %q is ECDSA on %s; cosign verifies P-256 with SHA-256", ErrUnsupportedKey, keyID, k.Curve.Params().Name)
		}
		alg = kmstypes.SigningAlgorithmSpecEcdsaSha256
	case *rsa.PublicKey:
		alg = kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha256
	default:
		return nil, fmt.Errorf("%w: KMS key %q has key spec %s", ErrUnsupportedKey, keyID, spec)
	}
	offered := false
	for _, a := range out.SigningAlgorithms {
		offered = offered || a == alg
	}
	if !offered {
		return nil, fmt.Errorf("%w: KMS key %q does not offer %s", ErrUnsupportedKey, keyID, alg)
	}
	return &KMSSigner{api: api, keyID: keyID, kmsKeyID: aws.ToString(out.KeyId), algorithm: alg, pub: pub}, nil
}

// SignPayload signs payload with kms:Sign.
func (s *KMSSigner) SignPayload(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) > maxRawMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyID),
		Message:          payload,
		MessageType:      kmstypes.MessageTypeRaw,
		SigningAlgorithm: s.algorithm,
	})
	if err != nil {
		return nil, fmt.Errorf("signing with KMS key %q: %w", s.keyID, err)
	}
	return out.Signature, nil
}

// PublicKey returns the KMS key's public key.
func (s *KMSSigner) PublicKey() crypto.PublicKey { return s.pub }

// KMSKeyID is the key as GetPublicKey named it: its ARN on AWS (moto answers the bare
// id). Use it in the report and in `cosign verify --key awskms:///<it>`.
func (s *KMSSigner) KMSKeyID() string { return s.kmsKeyID }

// PublicKeyPEM returns the public key as PEM ("PUBLIC KEY"), the file `cosign verify
// --key` reads.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// ReadPublicKeyPEM reads a PEM public key as written by PublicKeyPEM or `cosign
// public-key`.
func ReadPublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	return cryptoutils.UnmarshalPEMToPublicKey(b)
}

// KeyFingerprint is the SHA-256 of the key's DER SubjectPublicKeyInfo, hex: how the
// report names the bank's key.
func KeyFingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// SigstoreSigner adapts any sigstore signer (a local key from
// signature.LoadECDSASignerVerifier, or sigstore's own KMS signers) to Signer.
type SigstoreSigner struct {
	SignerVerifier signature.SignerVerifier
}

// SignPayload signs payload with the sigstore signer.
func (s SigstoreSigner) SignPayload(ctx context.Context, payload []byte) ([]byte, error) {
	return s.SignerVerifier.SignMessage(bytes.NewReader(payload), signatureoptions.WithContext(ctx))
}

// PublicKey returns the signer's public key, nil when it cannot say.
func (s SigstoreSigner) PublicKey() crypto.PublicKey {
	pk, err := s.SignerVerifier.PublicKey()
	if err != nil {
		return nil
	}
	return pk
}
