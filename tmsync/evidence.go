package tmsync

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
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

// evidenceStep puts (sync) or checks (verify) each image's evidence, after the copies.
func (r *run) evidenceStep(ctx context.Context) error {
	ev := r.o.evidence
	if !ev.any() || r.mode == ModePlan {
		return nil
	}
	var todo []*item
	for _, it := range r.items {
		switch {
		case r.mode == ModeSync && (it.rec.Outcome == OutcomeCopied || it.rec.Outcome == OutcomePresent):
			todo = append(todo, it)
		case r.mode == ModeVerify && it.rec.Outcome == OutcomePresent && (ev.BankKey != nil):
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	client, host, err := r.evidenceClient(ctx, todo[0])
	if err != nil {
		for _, it := range todo {
			it.fail("evidence", OutcomeFailed, fmt.Errorf("evidence: %w", err))
			r.event(EventError, it, it.rec.Reason)
		}
		return nil
	}
	vs, _ := r.attestor.(verifiedSource)
	// Ensure writes a fallback tag only where none is; on IMMUTABLE repositories it must
	// know, to report a tag it cannot fix as blocked instead of pushing into a refusal.
	immutable := map[string]bool{}
	for _, repo := range r.rep.Repositories {
		immutable[repo.Name] = repo.State["imageTagMutability"] == "IMMUTABLE"
	}
	var mu sync.Mutex
	// Mostly lookups (the referrers of each image, at the vendor and at the target), each
	// a few small requests after a ping and a token: run them as wide as the tag lookups.
	// What it pushes is small and paced by the evidence client's own push limiter.
	forEach(ctx, todo, max(r.o.concurrency, r.o.lookupConcurrency), func(ctx context.Context, it *item) {
		dst := evidence.Image{Repository: host + "/" + it.repo, Digest: it.dgst, ImmutableTags: immutable[it.repo]}
		subject := attest.Subject{Repository: it.src.Name(), Digest: it.dgst}
		var errs []error
		// From a bundle there is no vendor to list referrers from (the run must not reach
		// the internet); the bundle carries the images and their attestations only.
		if r.mode == ModeSync && ev.CopyReferrers && it.img.Vendor && r.o.imageSource == nil {
			src := evidence.Image{Repository: it.src.Name(), Digest: it.dgst}
			rc, err := client.CopyReferrers(ctx, src, dst.Repository)
			if len(rc.Referrers) > 0 || err != nil {
				mu.Lock()
				it.rec.Referrers = &rc
				mu.Unlock()
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
			if vs != nil && it.rec.Attestation != nil {
				if occ, ver, ok := vs.verified(subject); ok {
					want.Attestation = &evidence.VendorAttestation{Occurrence: occ, Verification: ver, Source: subject}
					want.Vendor = vs.vendorVerifier()
				}
			}
			rec, err = client.Ensure(ctx, dst, want)
		case r.mode == ModeVerify:
			chk := evidence.Checks{BankKey: ev.BankKey}
			if vs != nil && it.img.Vendor {
				chk.Vendor, chk.VendorRepository = vs.vendorVerifier(), it.src.Name()
			}
			rec, err = client.Verify(ctx, dst, chk)
		}
		if rec.Attestation != nil || rec.Signature != nil {
			mu.Lock()
			it.rec.Evidence = &rec
			mu.Unlock()
		}
		if err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			// The evidence package's errors name the image in the target; others get it.
			if !strings.Contains(err.Error(), dst.String()) {
				err = fmt.Errorf("%s: %w", dst, err)
			}
			it.fail("evidence", OutcomeFailed, err)
			// The image had its progress line (copied or present): this one comes after.
			r.event(EventError, it, it.rec.Reason)
			return
		}
		if rec.ManifestPushes > 0 {
			r.event(EventInfo, it, fmt.Sprintf("evidence: %d manifest pushes", rec.ManifestPushes))
		}
	})
	return nil
}

// evidenceClient makes the run's evidence client: the target's registry credentials (an
// ECR token) for the target's host, the vendor's for the vendor registry.
func (r *run) evidenceClient(ctx context.Context, it *item) (*evidence.Client, string, error) {
	ref, sys, err := r.target.Reference(ctx, it.repo, it.img.Dest.Tag)
	if err != nil {
		return nil, "", fmt.Errorf("the target's credentials: %w", err)
	}
	host := registryHost(ref)
	kc := keychain{}
	if sys != nil && sys.DockerAuthConfig != nil && sys.DockerAuthConfig.Username != "" {
		kc[host] = authn.FromConfig(authn.AuthConfig{Username: sys.DockerAuthConfig.Username, Password: sys.DockerAuthConfig.Password})
	}
	if r.o.source.Username != "" || r.o.source.Password != "" {
		kc[r.vendor] = authn.FromConfig(authn.AuthConfig{Username: r.o.source.Username, Password: r.o.source.Password})
	}
	opts := []evidence.Option{evidence.WithKeychain(kc), evidence.WithToolVersion(Version),
		evidence.WithLogger(r.o.logger), evidence.WithClock(r.o.clock)}
	if r.o.pushLimiter != nil {
		opts = append(opts, evidence.WithPushLimiter(r.o.pushLimiter))
	}
	if len(r.o.insecure) > 0 || (sys != nil && sys.DockerInsecureSkipTLSVerify == types.OptionalBoolTrue) {
		opts = append(opts, evidence.WithInsecure())
	}
	c, err := evidence.NewClient(opts...)
	return c, host, err
}

// registryHost is the registry host of a containers/image docker reference.
func registryHost(ref types.ImageReference) string {
	name := ref.DockerReference().Name()
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return name
}

// keychain gives each registry host its credentials, anonymous elsewhere.
type keychain map[string]authn.Authenticator

func (k keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[res.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
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
