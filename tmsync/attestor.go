package tmsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tmsync/tmsync/attest"
)

// VendorAttestor is the Attestor of the vendor's Grafeas attestations: it fetches them
// (the whole note in a few pages, per image, or from an offline bundle) and verifies each
// with the attestor's keys, bound to the image's digest and repository. It is safe for
// concurrent use, by several runs at once.
type VendorAttestor struct {
	client   *attest.Client
	verifier *attest.Verifier
	perImage bool
	offline  *attest.Bundle

	mu sync.Mutex
	// fetched are the occurrences Prepare found, by subject: each Prepare replaces those of
	// its own subjects only, so that runs of several releases at once do not see each
	// other's, and a later run of a release sees what the server says then.
	fetched map[string][]attest.Occurrence
	used    map[string]attest.Occurrence // by usedKey: what the releases needed, for a bundle
	// good are the occurrences that verified, by subject, with their verification: the
	// evidence stored next to the image in the target.
	good map[string]goodOccurrence
}

type goodOccurrence struct {
	occ attest.Occurrence
	ver attest.Verification
}

// AttestorOption configures NewAttestor.
type AttestorOption func(*attestorOptions) error

type attestorOptions struct {
	perImage bool
	bundle   *attest.Bundle
}

// WithPerImage asks the server for each image's occurrences with a filter. Default: the
// note's occurrences are listed once, and a release costs a few requests.
func WithPerImage() AttestorOption {
	return func(o *attestorOptions) error { o.perImage = true; return nil }
}

// WithBundle makes b the only source of occurrences: no network (air-gapped runs, audits,
// reruns). Default: the attestation server.
func WithBundle(b *attest.Bundle) AttestorOption {
	return func(o *attestorOptions) error {
		if b == nil {
			return errors.New("WithBundle: nil bundle")
		}
		o.bundle = b
		return nil
	}
}

// NewAttestor returns the vendor's Attestor: occurrences from client (or a bundle,
// WithBundle; client may then be nil), verified by verifier.
func NewAttestor(client *attest.Client, verifier *attest.Verifier, opts ...AttestorOption) (*VendorAttestor, error) {
	var o attestorOptions
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if verifier == nil {
		errs = append(errs, errors.New("no verifier"))
	}
	if client == nil && o.bundle == nil {
		errs = append(errs, errors.New("neither an attestation server nor a bundle"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("attestor: %w", err)
	}
	return &VendorAttestor{client: client, verifier: verifier, perImage: o.perImage, offline: o.bundle,
		fetched: map[string][]attest.Occurrence{}, used: map[string]attest.Occurrence{}, good: map[string]goodOccurrence{}}, nil
}

// Prepare implements Attestor.
func (a *VendorAttestor) Prepare(ctx context.Context, subjects []attest.Subject) error {
	var occs []attest.Occurrence
	switch {
	case a.offline != nil:
		occs = a.offline.Occurrences
	case a.perImage:
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for _, s := range subjects {
			g.Go(func() error {
				got, err := a.client.ForImage(gctx, s)
				if err != nil {
					return err
				}
				mu.Lock()
				occs = append(occs, got...)
				mu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return unavailable("fetching attestations image by image", err)
		}
	default:
		// Only the release's occurrences are kept while the note is paged through: an
		// attestation server is not trusted to keep its listing small.
		var err error
		if occs, err = a.client.ListFor(ctx, subjects); err != nil {
			return unavailable("listing occurrences", err)
		}
	}
	idx := attest.NewIndex(occs)
	a.mu.Lock()
	for _, s := range subjects {
		a.fetched[s.String()] = idx.For(s)
	}
	a.mu.Unlock()
	return nil
}

// Verify implements Attestor.
func (a *VendorAttestor) Verify(_ context.Context, sub attest.Subject) (*Attestation, error) {
	a.mu.Lock()
	occs, ok := a.fetched[sub.String()]
	a.mu.Unlock()
	if !ok {
		return nil, &attest.UnavailableError{Op: "verifying " + sub.String(), Err: errors.New("its attestations were not fetched (Prepare)")}
	}
	a.mu.Lock()
	for _, o := range occs {
		a.used[usedKey(o)] = o
	}
	a.mu.Unlock()
	v, err := a.verifier.Verify(sub, occs)
	if err != nil {
		// attest's errors as they are: *attest.RejectedError (ErrRejected, and
		// ErrNoAttestation when there was none) or *attest.UnavailableError.
		return nil, err
	}
	// The occurrence that verified, by its place: another of the same name may not.
	a.mu.Lock()
	a.good[sub.String()] = goodOccurrence{occ: occs[v.Index], ver: *v}
	a.mu.Unlock()
	att := &Attestation{Occurrence: v.Occurrence, Fingerprint: v.Fingerprint, SignedAt: v.SignedAt,
		PayloadType: v.PayloadType, Hash: v.Hash, KeyExpired: v.KeyExpired}
	if !v.KeyExpiresAt.IsZero() {
		t := v.KeyExpiresAt.UTC()
		att.KeyExpiresAt = &t
	}
	return att, nil
}

// usedKey tells the occurrences a run looked at apart by what the server sent, not by
// name alone: two with one name (one good, one not) both go into a bundle, so that a
// later run verifies from it what this one did.
func usedKey(o attest.Occurrence) string {
	if len(o.Raw) > 0 {
		return o.Name + "\x00" + string(o.Raw)
	}
	return o.Name
}

// unavailable is err as an *attest.UnavailableError, unless it is one already.
func unavailable(op string, err error) error {
	var un *attest.UnavailableError
	if errors.As(err, &un) {
		return err
	}
	return &attest.UnavailableError{Op: op, Err: err}
}

// Occurrences returns the occurrences the run looked at, for an offline bundle.
func (a *VendorAttestor) Occurrences() []attest.Occurrence {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]attest.Occurrence, 0, len(a.used))
	for _, k := range slices.Sorted(maps.Keys(a.used)) {
		out = append(out, a.used[k])
	}
	return out
}

// Bundle returns the occurrences the runs so far looked at as an offline bundle
// (attest.WriteBundle), for a later run without the attestation server (WithBundle). address names the server they came from.
func (a *VendorAttestor) Bundle(address string, created time.Time) attest.Bundle {
	return attest.Bundle{Version: 1, Address: address, Created: created.UTC(), Occurrences: a.Occurrences()}
}

// verified returns the occurrence that verified s (Verify) and its verification.
func (a *VendorAttestor) verified(s attest.Subject) (attest.Occurrence, attest.Verification, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.good[s.String()]
	return g.occ, g.ver, ok
}

func (a *VendorAttestor) vendorVerifier() *attest.Verifier { return a.verifier }
