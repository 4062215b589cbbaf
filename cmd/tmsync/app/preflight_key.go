package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
)

// keyCheckImages is how many of the release's vendor images the preflight's key check
// verifies.
const keyCheckImages = 3

// checkAttestorKey verifies the vendor's attestations of the first few pinned vendor images
// of the release with the operator's key file (--src_attestor). When every one checked is
// refused only because its signer is not in that file (an old key, another file), every
// image of the run would be refused for that one reason: it is a problem of the run, said
// once with the signer's key id, before anything is created. One image that verifies, or
// any other reason (no attestation yet, a digest mismatch, a server that does not answer
// in time), says nothing here: the run checks and reports each image as before, and a
// vendor key rotation (some images signed by the new key) does not stop a run.
func checkAttestorKey(ctx context.Context, ps *problems, cfg attestorConfig, release *manifest.Folder) {
	var subjects []attest.Subject
	if release != nil {
		for _, img := range release.Images() {
			if img.Vendor && img.Source.Digest != "" {
				subjects = append(subjects, attest.Subject{Repository: img.Source.Name(), Digest: img.Source.Digest})
				if len(subjects) == keyCheckImages {
					break
				}
			}
		}
	}
	if len(subjects) == 0 {
		return
	}
	verifier, err := newVerifier(cfg)
	if err != nil {
		return // the run reads the key again and stops on it, with its own message
	}
	client, err := attest.NewClient(cfg.Address, attest.WithToken(cfg.Token), attest.WithHTTPClient(preflightHTTP()), attest.WithRetry(1, 0))
	if err != nil {
		return // checkAttestations says what is wrong with the address
	}
	// The whole check is bounded as every preflight check is: the per-request timeout
	// alone let a server that answers each page slowly, with a next page every time,
	// hold the run for the listing's own limit (minutes).
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	// The images are asked at once: a slow server costs one preflight timeout, not three.
	// A listing that fails leaves its image's error nil: not refused, nothing said.
	results := make([]error, len(subjects))
	var wg sync.WaitGroup
	for i, s := range subjects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if occs, err := client.ForImage(ctx, s); err == nil {
				_, results[i] = verifier.Verify(s, occs)
			}
		}()
	}
	wg.Wait()
	reasons := map[string]bool{}
	var refused []string
	for i, err := range results {
		var rej *attest.RejectedError
		if !errors.As(err, &rej) || rej.NoAttestation {
			return // verified, not checked, or another reason: the run says it per image
		}
		for _, r := range rej.Reasons {
			if !errors.Is(r.Err, attest.ErrUnknownKey) {
				return
			}
			reasons[attest.Sanitize(r.Reason)] = true
		}
		refused = append(refused, subjects[i].Repository)
	}
	said := make([]string, 0, len(reasons))
	for r := range reasons {
		said = append(said, r)
	}
	sort.Strings(said)
	which := "the attestor key file " + absPath(cfg.KeyFile)
	if len(cfg.Fingerprints) > 0 {
		which += " (with --src-attestor-fingerprint)"
	}
	ps.add(fmt.Sprintf("the vendor's attestations of %s are signed by a key that is not in %s: %s",
		strings.Join(refused, ", "), which, strings.Join(said, "; ")),
		"check that --src_attestor is the vendor's current attestor public key: with this one every image would be refused")
}
