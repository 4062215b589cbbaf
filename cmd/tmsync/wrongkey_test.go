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

// TestWrongAttestorKey: a --src_attestor holding another key than the vendor's had every
// image refused, one error line each, exit 1. The run now says it once, exit 2, naming the
// signer's key id, before anything is created or pushed, from the attestations it fetches
// anyway (no request more: the bench holds the run to 3 at the attestation server), with
// or without the preflight. A vendor key rotation, where some images are signed by a key
// the file holds, is not stopped: those images verify and the others are refused by the
// run, one by one.
func TestWrongAttestorKey(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, images := r.release(4, 41)
	other, err := attesttest.NewSigner("Another Attestor")
	must(t, err)
	otherKey, err := other.ArmoredPublicKey()
	must(t, err)
	wrongKey := filepath.Join(t.TempDir(), "old_attestor.pgp")
	must(t, os.WriteFile(wrongKey, otherKey, 0o644))

	args := append(without(r.args(rel), "--src_attestor"), "--src_attestor", wrongKey)
	for _, extra := range [][]string{nil, {"--skip-preflight"}} {
		code, out := r.run(append(args, extra...))
		if code != 2 {
			t.Fatalf("wrong key %v: exit %d, want 2", extra, code)
		}
		const want = "wrong attestor key: the attestations of all 4 vendor images are signed by a key that is not in the attestor keyring (key id "
		if !strings.Contains(out, want) || !strings.Contains(out, "--src_attestor") {
			t.Errorf("wrong key %v: the run does not say it once with the key id:\n%s", extra, out)
		}
		if log, err := os.ReadFile(filepath.Join(r.dir, "sync-error.log")); err != nil || !strings.Contains(string(log), want) {
			t.Errorf("wrong key %v: error log %q %v", extra, log, err)
		}
		if n := strings.Count(out, "attestation rejected"); n != 0 {
			t.Errorf("wrong key %v: %d per-image rejections printed", extra, n)
		}
		if st := r.targetState(); len(st) != 0 {
			t.Errorf("wrong key %v: the target holds %v", extra, st)
		}
	}

	// A rotation: one image is also signed by the key in the file. That image verifies,
	// so the key is not wrong for the whole run: the run copies that image and refuses
	// the others one by one (exit 1).
	occ, err := other.Occurrence(attest.Subject{Repository: r.src.Host + "/" + images[1].Repository, Digest: digest.Digest(images[1].Digest)})
	must(t, err)
	r.att.Add(occ)
	code, out := r.run(args)
	if code != 1 || strings.Contains(out, "wrong attestor key") {
		t.Fatalf("one image signed by the file's key: exit %d, want 1, the others refused one by one", code)
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
