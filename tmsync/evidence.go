package tmsync

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/evidence"
)

// Evidence says what chain of custody a run puts next to each image in the target, and
// checks (issue 19; package evidence has the formats). The zero value asks for nothing.
type Evidence struct {
	// Signer is the bank's key (evidence.NewKMSSigner): with it, Sync puts next to every
	// image it copies or finds present the vendor's attestation as an OCI referrer (vendor
	// images) and the bank's cosign signature, and Verify checks both.
	Signer evidence.Signer
	// BankKey, for Verify without a signer (an audit account with kms:GetPublicKey only,
	// or a PEM file): the bank signature must verify under it. Default Signer's key.
	BankKey crypto.PublicKey
	// CopyReferrers copies the vendor's own referrers (signatures, SBOMs) of each vendor
	// image with it, digests preserved (Sync only). A source without referrers costs two
	// reads per image and pushes nothing.
	CopyReferrers bool
	// PushRate bounds the evidence's manifest pushes per second, across the engine's runs.
	// Default DefaultPushRate (ECR's PutImage quota).
	PushRate float64
}

// DefaultPushRate is ECR's PutImage quota per account and region: 10 per second.
const DefaultPushRate = 10

// WithEvidence sets the evidence runs put and check. Default: none.
func WithEvidence(ev Evidence) Option {
	return func(o *options) error {
		if ev.PushRate < 0 {
			return fmt.Errorf("evidence push rate %v: want more than 0", ev.PushRate)
		}
		if ev.PushRate == 0 {
			ev.PushRate = DefaultPushRate
		}
		if ev.BankKey == nil && ev.Signer != nil {
			ev.BankKey = ev.Signer.PublicKey()
		}
		o.evidence = ev
		o.pushLimiter = newRateLimiter(ev.PushRate)
		return nil
	}
}

func (ev Evidence) any() bool { return ev.Signer != nil || ev.BankKey != nil || ev.CopyReferrers }

// verifiedSource hands over what verified an image, for its attestation artifact.
// VendorAttestor has it; another Attestor gets the bank signature only.
type verifiedSource interface {
	verified(s attest.Subject) (attest.Occurrence, attest.Verification, bool)
	vendorVerifier() *attest.Verifier
}

// evidenceWanted reports whether it gets evidence in this run: in a sync every image
// copied or present, in a verify every present image when a bank key is given.
func (r *run) evidenceWanted(it *item) bool {
	ev := r.o.evidence
	switch {
	case !ev.any():
		return false
	case r.mode == ModeSync:
		return it.rec.Outcome == OutcomeCopied || it.rec.Outcome == OutcomePresent
	case r.mode == ModeVerify:
		return it.rec.Outcome == OutcomePresent && ev.BankKey != nil
	}
	return false
}

// evidenceRun is what every image's evidence shares: the client (made from the first
// image that needs it), the target's host, the repositories with immutable tags and
// what verified the vendor's attestations.
type evidenceRun struct {
	once      sync.Once
	client    *evidence.Client
	host      string
	err       error
	immutable map[string]bool
	vs        verifiedSource
	mu        sync.Mutex // it.rec's evidence fields
}

func (r *run) evidenceSetup(ctx context.Context, it *item) *evidenceRun {
	e := r.ev
	e.once.Do(func() {
		e.client, e.host, e.err = r.evidenceClient(ctx, it)
		e.vs, _ = r.attestor.(verifiedSource)
		// Ensure writes a fallback tag only where none is; on IMMUTABLE repositories it
		// must know, to report a tag it cannot fix as blocked instead of pushing into a
		// refusal. The repositories step has run: their states are known.
		e.immutable = map[string]bool{}
		for _, repo := range r.rep.Repositories {
			e.immutable[repo.Name] = repo.State["imageTagMutability"] == "IMMUTABLE"
		}
	})
	return e
}

// evidenceWidth is how many images' evidence run at once: mostly lookups (the referrers
// of each image, at the vendor and at the target), each a few small requests, so as wide
// as the tag lookups; what it pushes is small and paced by the evidence client's own
// push limiter.
func (r *run) evidenceWidth() int { return max(r.o.concurrency, r.o.lookupConcurrency) }

// startEvidence starts, in a sync, each image's evidence as soon as its outcome is known
// (present after the tag lookup, copied after its copy) instead of after every copy:
// the referrer lookups at the vendor overlap the lookups and copies at the target (a
// no-op re-sync, the two take about as long).
// evidenceStep waits for them.
func (r *run) startEvidence(ctx context.Context) {
	r.ev = &evidenceRun{}
	if r.mode != ModeSync || !r.o.evidence.any() {
		return
	}
	r.evPipe = &evidencePipe{sem: make(chan struct{}, r.evidenceWidth()), started: map[*item]bool{}}
	r.evCtx = ctx
}

// waitEvidence waits for the evidence started by the pipe (none without one).
func (r *run) waitEvidence() {
	if r.evPipe != nil {
		r.evPipe.wg.Wait()
	}
}

// evidencePipe runs the evidence of images handed to it as their outcomes become known.
type evidencePipe struct {
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	started map[*item]bool
}

// evidenceNow hands it to the pipe, if there is one and it wants evidence. The caller
// has made its outcome final and touches it no more.
func (r *run) evidenceNow(it *item) {
	p := r.evPipe
	if p == nil || !r.evidenceWanted(it) {
		return
	}
	p.mu.Lock()
	p.started[it] = true
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx := r.evCtx
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-p.sem }()
		if ctx.Err() != nil {
			return // interrupted: nothing more starts
		}
		r.evidenceOne(ctx, it)
	}()
}

// evidenceStep puts (sync) or checks (verify) each image's evidence: in a sync it waits
// for those started as outcomes became known, then does any image not yet done.
func (r *run) evidenceStep(ctx context.Context) error {
	if !r.o.evidence.any() || r.mode == ModePlan {
		return nil
	}
	started := map[*item]bool{}
	if p := r.evPipe; p != nil {
		p.wg.Wait()
		started = p.started
	}
	var todo []*item
	for _, it := range r.items {
		if r.evidenceWanted(it) && !started[it] {
			todo = append(todo, it)
		}
	}
	forEach(ctx, todo, r.evidenceWidth(), func(ctx context.Context, it *item) { r.evidenceOne(ctx, it) })
	return nil
}

// evidenceOne puts (sync) or checks (verify) the evidence of one image.
func (r *run) evidenceOne(ctx context.Context, it *item) {
	ev := r.o.evidence
	e := r.evidenceSetup(ctx, it)
	if e.err != nil {
		it.failRec("evidence", OutcomeFailed, fmt.Errorf("evidence: %w", e.err))
		r.event(EventError, it, it.rec.Reason)
		return
	}
	client, host := e.client, e.host
	dst := evidence.Image{Repository: host + "/" + it.repo, Digest: it.dgst, ImmutableTags: e.immutable[it.repo]}
	subject := attest.Subject{Repository: it.src.Name(), Digest: it.dgst}
	var errs []error
	// From a bundle there is no vendor to list referrers from (the run must not reach
	// the internet); the bundle carries the images and their attestations only.
	if r.mode == ModeSync && ev.CopyReferrers && it.img.Vendor && r.o.imageSource == nil {
		src := evidence.Image{Repository: it.src.Name(), Digest: it.dgst}
		rc, err := client.CopyReferrers(ctx, src, dst.Repository)
		if len(rc.Referrers) > 0 || err != nil {
			e.mu.Lock()
			it.rec.Referrers = &rc
			e.mu.Unlock()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("copying the vendor's referrers: %w", err))
		}
	}
	var rec evidence.Record
	var err error
	switch {
	case r.mode == ModeSync && ev.Signer != nil:
		want := evidence.Evidence{Signer: ev.Signer}
		if e.vs != nil && it.rec.Attestation != nil {
			if occ, ver, ok := e.vs.verified(subject); ok {
				want.Attestation = &evidence.VendorAttestation{Occurrence: occ, Verification: ver, Source: subject}
				want.Vendor = e.vs.vendorVerifier()
			}
		}
		rec, err = client.Ensure(ctx, dst, want)
	case r.mode == ModeVerify:
		chk := evidence.Checks{BankKey: ev.BankKey}
		if e.vs != nil && it.img.Vendor {
			chk.Vendor, chk.VendorRepository = e.vs.vendorVerifier(), it.src.Name()
		}
		rec, err = client.Verify(ctx, dst, chk)
	}
	if rec.Attestation != nil || rec.Signature != nil {
		e.mu.Lock()
		it.rec.Evidence = &rec
		e.mu.Unlock()
	}
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// The evidence package's errors name the image in the target; others get it.
		if !strings.Contains(err.Error(), dst.String()) {
			err = fmt.Errorf("%s: %w", dst, err)
		}
		if ctx.Err() != nil {
			// Cut by the interruption, not failed: a rerun puts it (the image is present).
			err = fmt.Errorf("%w: a rerun finishes it", interruption(ctx, " before its evidence was finished"))
		}
		it.failRec("evidence", OutcomeFailed, err)
		// The image had its progress line (copied or present): this one comes after.
		r.event(EventError, it, it.rec.Reason)
		return
	}
	if rec.ManifestPushes > 0 {
		r.event(EventInfo, it, fmt.Sprintf("evidence: %d manifest pushes", rec.ManifestPushes))
	}
}

// evidenceClient makes the run's evidence client: the target's registry credentials (an
// ECR token) for the target's host, the vendor's for the vendor registry.
func (r *run) evidenceClient(ctx context.Context, it *item) (*evidence.Client, string, error) {
	ref, sys, err := r.target.Reference(ctx, it.repo, it.img.Dest.Tag)
	if err != nil {
		return nil, "", fmt.Errorf("the target's credentials: %w", err)
	}
	host := reference.Domain(ref.DockerReference())
	opts := []evidence.Option{evidence.WithToolVersion(Version), evidence.WithLogger(r.o.logger), evidence.WithClock(r.o.clock),
		evidence.WithTransport(evidenceTransport(r.o.idleTimeout))}
	if sys != nil && sys.DockerAuthConfig != nil && sys.DockerAuthConfig.Username != "" {
		opts = append(opts, evidence.WithCredentials(host, sys.DockerAuthConfig.Username, sys.DockerAuthConfig.Password))
	}
	if r.vendor != "" && (r.o.source.Username != "" || r.o.source.Password != "") {
		opts = append(opts, evidence.WithCredentials(r.vendor, r.o.source.Username, r.o.source.Password))
	}
	if r.o.pushLimiter != nil {
		opts = append(opts, evidence.WithPushLimiter(r.o.pushLimiter))
	}
	if len(r.o.insecure) > 0 || (sys != nil && sys.DockerInsecureSkipTLSVerify == types.OptionalBoolTrue) {
		opts = append(opts, evidence.WithInsecure())
	}
	c, err := evidence.NewClient(opts...)
	return c, host, err
}

// evidenceTransport is go-containerregistry's default transport with an answer timeout:
// the evidence's requests (referrer listings, small manifests and blobs) would otherwise
// wait for ever on a registry that never answers. A request whose answer does not start
// within the idle timeout fails as a timeout, which go-containerregistry retries.
func evidenceTransport(idle time.Duration) http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		return remote.DefaultTransport
	}
	tr := base.Clone()
	tr.ResponseHeaderTimeout = idle
	tr.MaxResponseHeaderBytes = 64 << 10
	return tr
}

// rateLimiter spaces events at most rate per second, shared by every goroutine.
type rateLimiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newRateLimiter(rate float64) *rateLimiter {
	return &rateLimiter{every: time.Duration(float64(time.Second) / rate)}
}

// Wait implements evidence.Limiter.
func (l *rateLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
