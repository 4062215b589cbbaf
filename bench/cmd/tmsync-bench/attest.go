package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

func init() { newAttestations = attestations }

// attestations makes a throwaway attestor key, signs an occurrence for every subject and
// serves them from a Grafeas test server on 127.0.0.1 that requires the vendor token.
func attestations(dir, token string, subs []subject) (*attestInfo, error) {
	signer, err := attesttest.NewSigner("tmsync-bench attestor")
	if err != nil {
		return nil, err
	}
	pub, err := signer.ArmoredPublicKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	key := filepath.Join(dir, "attestor.asc")
	if err := os.WriteFile(key, pub, 0o644); err != nil {
		return nil, err
	}
	srv := attesttest.NewServer(token)
	for _, s := range subs {
		occ, err := signer.Occurrence(attest.Subject{Repository: s.Repository, Digest: digest.Digest(s.Digest)})
		if err != nil {
			return nil, fmt.Errorf("signing %s@%s: %w", s.Repository, s.Digest, err)
		}
		srv.Add(occ)
	}
	return &attestInfo{URL: srv.URL, KeyFile: key, Requests: srv.Requests, Close: srv.Close}, nil
}
