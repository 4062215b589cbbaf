package attest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

// Verify a release in bulk: one listing of the note's occurrences, indexed by resource,
// then one verification per image.
func Example() {
	// The vendor's key and attestation server (in-process here).
	vendor, _ := attesttest.NewSigner("vendor")
	payees := attest.Subject{
		Repository: "docker.external.thoughtmachine.io/vault/xpl/xpl_payees",
		Digest:     digest.FromString("xpl_payees 5.0.3"),
	}
	occ, _ := vendor.Occurrence(payees)
	srv := attesttest.NewServer("vendor-token", occ)
	defer srv.Close()
	keyFile, _ := vendor.ArmoredPublicKey() // the --src_attestor file

	// What tmsync does.
	keyring, err := attest.ReadKeyring(bytes.NewReader(keyFile))
	if err != nil {
		fmt.Println(err)
		return
	}
	verifier, _ := attest.NewVerifier(keyring, attest.WithFingerprints(vendor.Fingerprint()))
	client, _ := attest.NewClient(srv.URL, attest.WithToken("vendor-token"))
	occs, err := client.List(context.Background())
	if err != nil {
		fmt.Println("could not check:", err)
		return
	}
	index := attest.NewIndex(occs)

	ver, err := verifier.Verify(payees, index.For(payees))
	fmt.Println("payees verified:", err == nil, ver.PayloadType)

	unknown := attest.Subject{Repository: payees.Repository, Digest: digest.FromString("something else")}
	_, err = verifier.Verify(unknown, index.For(unknown))
	fmt.Println("unknown digest rejected:", errors.Is(err, attest.ErrRejected), "no attestation:", errors.Is(err, attest.ErrNoAttestation))
	fmt.Println("requests:", client.Requests())
	// Output:
	// payees verified: true atomic container signature
	// unknown digest rejected: true no attestation: true
	// requests: 1
}
