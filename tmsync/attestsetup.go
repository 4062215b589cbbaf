package tmsync

import (
	"fmt"
	"os"

	"github.com/tmsync/tmsync/attest"
)

// AttestorConfig names where a VendorAttestor's key and attestations come from, as the
// command line's flags give them.
type AttestorConfig struct {
	// KeyFile is the vendor attestor's armored public key (--src_attestor).
	KeyFile string
	// Fingerprints, when set, are the only keys accepted.
	Fingerprints []string
	// Address is the attestation server's occurrences endpoint; Token logs in to it.
	Address, Token string
	// Bundle, when set, is an offline bundle read instead of the server.
	Bundle string
	// PerImage asks the server image by image.
	PerImage bool
	// StrictKeyExpiry refuses a signature whose key has expired since it signed.
	StrictKeyExpiry bool
}

// NewAttestorFromConfig reads the key (and the bundle) and returns the attestor.
// (Setup builds the same for sync, plan and verify; `tmsync copy` uses this.)
func NewAttestorFromConfig(c AttestorConfig) (*VendorAttestor, error) {
	kf, err := os.Open(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the attestor key: %w", err)
	}
	keyring, err := attest.ReadKeyring(kf)
	kf.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the attestor key %s: %w", c.KeyFile, err)
	}
	var vopts []attest.VerifierOption
	if len(c.Fingerprints) > 0 {
		vopts = append(vopts, attest.WithFingerprints(c.Fingerprints...))
	}
	if c.StrictKeyExpiry {
		vopts = append(vopts, attest.WithStrictKeyExpiry())
	}
	verifier, err := attest.NewVerifier(keyring, vopts...)
	if err != nil {
		return nil, fmt.Errorf("setting up attestation checks: %w", err)
	}
	opts := AttestorOptions{PerImage: c.PerImage}
	var client *attest.Client
	if c.Bundle != "" {
		f, err := os.Open(c.Bundle)
		if err != nil {
			return nil, fmt.Errorf("reading the attestation bundle: %w", err)
		}
		b, err := attest.ReadBundle(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the attestation bundle %s: %w", c.Bundle, err)
		}
		opts.Bundle = &b
	} else if client, err = attest.NewClient(c.Address, attest.WithToken(c.Token)); err != nil {
		return nil, fmt.Errorf("setting up the attestation client: %w", err)
	}
	return NewAttestor(client, verifier, opts)
}
