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
// anyway: no request more at the attestation server than a run of the same release with
// the right key, counted here, with or without the preflight. A vendor key rotation, where some images are signed by a key
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

	// The same release, run with the right key in a bed of its own, each run to a target
	// prefix of its own: the requests that a run which verifies and copies every image
	// makes at the attestation server.
	right := newRelBed(t, faultproxy.Config{})
	rightRel, _ := right.release(4, 41)
	rightRequests := map[bool]int{}
	for _, skip := range []bool{false, true} {
		a := append(without(right.args(rightRel), "--trgprefix"), "--trgprefix", "/"+trgPrefix+"/preflight/")
		if skip {
			a = append(without(right.args(rightRel), "--trgprefix"), "--trgprefix", "/"+trgPrefix+"/skipped/", "--skip-preflight")
		}
		before := right.att.Requests()
		if code, out := right.run(a); code != 0 || strings.Count(out, "DONE:") != 4 {
			t.Fatalf("the right key (--skip-preflight %v): exit %d, want 0 and 4 images copied", skip, code)
		}
		rightRequests[skip] = right.att.Requests() - before
	}
	t.Logf("requests to the attestation server of a run with the right key: %d, with --skip-preflight %d", rightRequests[false], rightRequests[true])

	args := append(without(r.args(rel), "--src_attestor"), "--src_attestor", wrongKey)
	for _, extra := range [][]string{nil, {"--skip-preflight"}} {
		before := r.att.Requests()
		code, out := r.run(append(args, extra...))
		if code != 2 {
			t.Fatalf("wrong key %v: exit %d, want 2", extra, code)
		}
		// The verdict comes from the attestations the run fetches anyway: no request
		// more than a run with the right key makes.
		if n, want := r.att.Requests()-before, rightRequests[extra != nil]; n != want || n == 0 {
			t.Errorf("wrong key %v: %d requests to the attestation server, the right key's run %d", extra, n, want)
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
