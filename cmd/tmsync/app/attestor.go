package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/tmsync"
)

// attestorConfig names where the vendor attestor's key and attestations come from, as the
// flags give them.
type attestorConfig struct {
	// KeyFile is the vendor attestor's armored public key (--src_attestor). KeyTried,
	// when KeyFile is the default name and was found nowhere, says where it was looked for.
	KeyFile, KeyTried string
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
	Logger          *slog.Logger
}

// newAttestor reads the key (and the bundle) and returns the attestor of sync, plan,
// verify and copy. Its errors are *tmsync.StartError.
func newAttestor(c attestorConfig) (*tmsync.VendorAttestor, error) {
	verifier, err := newVerifier(c)
	if err != nil {
		return nil, err
	}
	return newVendorAttestor(c, verifier)
}

// newVerifier reads the operator's attestor key (--src_attestor) and returns its
// verifier. Its errors are *tmsync.StartError.
func newVerifier(c attestorConfig) (*attest.Verifier, error) {
	kf, err := os.Open(c.KeyFile)
	if err != nil && c.KeyTried != "" {
		return nil, startErr("reading the attestor key --src_attestor",
			fmt.Errorf("no %s in %s: give the vendor's key file with --src_attestor", filepath.Base(c.KeyFile), c.KeyTried))
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said absolute already
		}
		return nil, startErr("reading the attestor key --src_attestor "+absPath(c.KeyFile), err)
	}
	keyring, err := attest.ReadKeyring(kf)
	kf.Close()
	if err != nil {
		return nil, startErr("reading the attestor key "+absPath(c.KeyFile), err)
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
		what := "setting up attestation checks with the attestor key " + absPath(c.KeyFile)
		if len(c.Fingerprints) > 0 {
			what += " and --src-attestor-fingerprint"
		}
		return nil, startErr(what, err)
	}
	return verifier, nil
}

func newVendorAttestor(c attestorConfig, verifier *attest.Verifier) (*tmsync.VendorAttestor, error) {
	var err error
	var opts []tmsync.AttestorOption
	if c.PerImage {
		opts = append(opts, tmsync.WithPerImage())
	}
	var client *attest.Client
	if c.Bundle != "" {
		f, err := os.Open(c.Bundle)
		if err != nil {
			return nil, startErr("reading the attestation bundle", err)
		}
		b, err := attest.ReadBundle(f)
		f.Close()
		if err != nil {
			return nil, startErr("reading the attestation bundle "+c.Bundle, err)
		}
		opts = append(opts, tmsync.WithBundle(&b))
	} else {
		copts := []attest.ClientOption{attest.WithToken(c.Token)}
		if c.Logger != nil {
			copts = append(copts, attest.WithLogger(c.Logger))
		}
		if client, err = attest.NewClient(c.Address, copts...); err != nil {
			return nil, startErr("setting up the attestation client", err)
		}
	}
	a, err := tmsync.NewAttestor(client, verifier, opts...)
	if err != nil {
		return nil, startErr("setting up attestation checks", err)
	}
	return a, nil
}
