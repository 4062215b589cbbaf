package tmsync

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/manifest"
)

// TestWrongAttestorKeyIDs: the run's "wrong attestor key" error names the signers' key ids
// from attest's Reason.KeyID (an *attest.UnknownKeyError's), not from the reason's text: a
// reason worded otherwise still gives its key id, and text that looks like a key id where
// attest gave none gives nothing. With real rejections the message is as before.
func TestWrongAttestorKeyIDs(t *testing.T) {
	vendor := func(n int) []*item {
		var todo []*item
		for range n {
			todo = append(todo, &item{img: manifest.Image{Vendor: true}})
		}
		return todo
	}
	unknown := func(reasons ...attest.Reason) error {
		for i := range reasons {
			reasons[i].Err = attest.ErrUnknownKey
		}
		return &attest.RejectedError{Reasons: reasons}
	}

	// Real rejections: the vendor's key file holds another key.
	signer, err := attesttest.NewSigner("the vendor's attestor")
	if err != nil {
		t.Fatal(err)
	}
	old, err := attesttest.NewSigner("an old attestor")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := old.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := attest.ReadKeyring(strings.NewReader(string(pub)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		t.Fatal(err)
	}
	var real []error
	for _, name := range []string{"a", "b"} {
		sub := attest.Subject{Repository: "docker.external.thoughtmachine.io/vault/" + name, Digest: digest.FromString(name)}
		raw, err := signer.Occurrence(sub)
		if err != nil {
			t.Fatal(err)
		}
		occ, err := attest.ParseOccurrence(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(sub, []attest.Occurrence{occ})
		real = append(real, err)
	}
	const tail = ": check that --src_attestor is the vendor's current attestor public key (and --src-attestor-fingerprint, when given, its fingerprint)"
	for _, tc := range []struct {
		name string
		todo []*item
		errs []error
		want string // "": no run error
	}{
		{"real rejections", vendor(2), real,
			"wrong attestor key: the attestations of all 2 vendor images are signed by a key that is not in the attestor keyring (key id " + signer.KeyID() + ")" + tail},
		{"a reason worded otherwise", vendor(1), []error{unknown(attest.Reason{Reason: "signed by someone else", KeyID: "0123456789ABCDEF"})},
			"(key id 0123456789ABCDEF)" + tail},
		{"text like a key id, no KeyID", vendor(1), []error{unknown(attest.Reason{Reason: attest.ErrUnknownKey.Error() + ": key id FEDCBA9876543210"})},
			"wrong attestor key: the attestations of all 1 vendor images are signed by a key that is not in the attestor keyring" + tail},
		{"many keys", vendor(2), []error{
			unknown(attest.Reason{KeyID: "0000000000000004"}, attest.Reason{KeyID: "0000000000000001"}),
			unknown(attest.Reason{KeyID: "0000000000000003"}, attest.Reason{KeyID: "0000000000000002"}, attest.Reason{KeyID: "0000000000000001"})},
			"(key id 0000000000000001; key id 0000000000000002; key id 0000000000000003; and 1 more)" + tail},
		{"another reason too", vendor(1), []error{&attest.RejectedError{Reasons: []attest.Reason{
			{Err: attest.ErrUnknownKey, KeyID: "0000000000000001"}, {Err: attest.ErrDigestMismatch}}}}, ""},
		{"no vendor image", []*item{{img: manifest.Image{}}}, []error{unknown(attest.Reason{KeyID: "0000000000000001"})}, ""},
	} {
		err := wrongAttestorKey(tc.todo, tc.errs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want no run error", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrWrongAttestorKey) || !strings.HasSuffix(err.Error(), tc.want)):
			t.Errorf("%s:\n got %v\nwant it to end %q", tc.name, err, tc.want)
		}
	}
}
