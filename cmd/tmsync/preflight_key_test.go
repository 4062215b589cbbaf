package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/faultproxy"
)

// TestPreflightWrongAttestorKey: a --src_attestor holding another key than the vendor's
// would have every image refused, one error line each, exit 1. The preflight verifies a few
// of the release's attestations with it first and stops the run once, exit 2, naming the
// key file and the signer's key id, before anything is pushed. A vendor key rotation, where
// some images are signed by a key the file holds, is not stopped: those images verify and
// the others are refused by the run, one by one.
func TestPreflightWrongAttestorKey(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, images := r.release(4, 41)
	other, err := attesttest.NewSigner("Another Attestor")
	must(t, err)
	otherKey, err := other.ArmoredPublicKey()
	must(t, err)
	wrongKey := filepath.Join(t.TempDir(), "old_attestor.pgp")
	must(t, os.WriteFile(wrongKey, otherKey, 0o644))

	args := append(without(r.args(rel), "--src_attestor"), "--src_attestor", wrongKey)
	code, out := r.run(args)
	if code != 2 {
		t.Fatalf("wrong key: exit %d, want 2", code)
	}
	if !strings.Contains(out, "signed by a key that is not in the attestor key file "+wrongKey) || !strings.Contains(out, "key id") {
		t.Errorf("the preflight does not name the key file and the signer's key id:\n%s", out)
	}
	if n := strings.Count(out, "attestation rejected"); n != 0 {
		t.Errorf("%d per-image rejections printed: the run went on past the preflight", n)
	}
	if st := r.targetState(); len(st) != 0 {
		t.Errorf("the target holds %v after a refused preflight", st)
	}

	// --skip-preflight: the run refuses each image itself (exit 1).
	if code, _ := r.run(append(args, "--skip-preflight")); code != 1 {
		t.Errorf("wrong key with --skip-preflight: exit %d, want 1", code)
	}

	// A rotation: one of the images the preflight checks (the release's first three) is
	// also signed by the key in the file. The preflight passes; the run copies that image
	// and refuses the others one by one (exit 1).
	occ, err := other.Occurrence(attest.Subject{Repository: r.src.Host + "/" + images[1].Repository, Digest: digest.Digest(images[1].Digest)})
	must(t, err)
	r.att.Add(occ)
	code, out = r.run(args)
	if code != 1 || strings.Contains(out, "not in the attestor key file") {
		t.Fatalf("one image signed by the file's key: exit %d, want 1 from the run, not the preflight", code)
	}
	st := r.targetState()
	if len(st) != 1 {
		t.Errorf("target %v, want only %s", st, images[1].Repository)
	}
	for k := range st {
		if !strings.Contains(k, images[1].Repository+":") {
			t.Errorf("target holds %s, want only %s", k, images[1].Repository)
		}
	}
}
