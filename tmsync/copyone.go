package tmsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
)

// CopyOption configures CopyOne.
type CopyOption func(*copyOptions) error

type copyOptions struct {
	source          Source
	insecure        []string
	newAttestor     func() (Attestor, error)
	skipAttestation bool
	byoPolicy       BYOPolicy
	observer        Observer
	logins          map[string]types.DockerAuthConfig // host -> credentials (WithCopyLogin)
}

// WithCopySource sets the vendor registry, its user and token, and the auth.json of the
// other registries (for the source and the destination). Default: the default vendor
// registry, no login, the usual auth.json locations.
func WithCopySource(s Source) CopyOption {
	return func(o *copyOptions) error { o.source = s; return nil }
}

// WithCopyLogin logs in to host (source or destination) with username and password, such
// as ECR's from GetAuthorizationToken, instead of an auth file. Default: none.
func WithCopyLogin(host, username, password string) CopyOption {
	return func(o *copyOptions) error {
		if o.logins == nil {
			o.logins = map[string]types.DockerAuthConfig{}
		}
		o.logins[host] = types.DockerAuthConfig{Username: username, Password: password}
		return nil
	}
}

// WithCopyInsecure names registry hosts spoken to over plain HTTP or without TLS
// verification. Default: none.
func WithCopyInsecure(hosts ...string) CopyOption {
	return func(o *copyOptions) error { o.insecure = append(o.insecure, hosts...); return nil }
}

// WithCopyAttestor sets how the attestor that verifies a source on the vendor registry
// is made; it is called only for such a source. Default: none, and such a source is
// refused (unless WithCopySkipAttestation).
func WithCopyAttestor(newAttestor func() (Attestor, error)) CopyOption {
	return func(o *copyOptions) error { o.newAttestor = newAttestor; return nil }
}

// WithCopyBYOPolicy sets what a source outside the vendor registry needs, as sync's
// WithBYOPolicy: BYOPinned (the default) copies it only when it names its digest
// (host/repo@sha256:...), as a release pins an upstream image; BYOAttested verifies the
// vendor's attestation of it like a vendor image's.
func WithCopyBYOPolicy(p BYOPolicy) CopyOption {
	return func(o *copyOptions) error {
		if _, err := ParseBYOPolicy(string(p)); err != nil {
			return err
		}
		o.byoPolicy = p
		return nil
	}
}

// WithCopySkipAttestation copies a source without the checks it would get: a vendor
// image without verifying its attestation, an image outside the vendor registry by its
// tag or without attestation whatever the BYO policy (--insecure-skip-attestation); the
// observer is told with an EventWarn. Default: verify.
func WithCopySkipAttestation() CopyOption {
	return func(o *copyOptions) error { o.skipAttestation = true; return nil }
}

// WithCopyObserver sets who is told of the verification (EventInfo) and of a skipped one
// (EventWarn). Default: nobody.
func WithCopyObserver(obs Observer) CopyOption {
	return func(o *copyOptions) error { o.observer = obs; return nil }
}

// errAttestationRequired refuses a vendor image that tmsync copy cannot verify.
var errAttestationRequired = errors.New("the source is on the vendor registry: its attestation must be verified (give --src_attestor and the attestation server, or --insecure-skip-attestation)")

// errBYOAttestationRequired refuses, under BYOAttested, a source outside the vendor
// registry that tmsync copy cannot verify.
var errBYOAttestationRequired = errors.New("--byo-policy=attested: the source's attestation must be verified (give --src_attestor and the attestation server)")

// ErrNotPinned refuses, under BYOPinned, a source outside the vendor registry that names
// no digest: what a tag points to can change between the check and the copy, and
// nothing else vouches for it.
var ErrNotPinned = errors.New("not pinned by digest")

// CopyOne copies one image from src to dest (registry references), every platform of an
// index, keeping the digest. It returns the digest copied.
//
// A source on the vendor registry is verified like sync does: its tag resolved to a
// digest, the vendor's attestation of that digest for that repository checked, and the
// image copied by that digest, unless WithCopySkipAttestation. A source elsewhere gets
// the BYO policy (WithCopyBYOPolicy): by default it must name its digest (ErrNotPinned).
func CopyOne(ctx context.Context, src, dest string, opts ...CopyOption) (string, error) {
	o := copyOptions{source: Source{Registry: manifest.DefaultVendorRegistry}, byoPolicy: BYOPinned, observer: ObserverFunc(func(Event) {})}
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if o.source.Registry == "" {
		o.source.Registry = manifest.DefaultVendorRegistry
	}
	srcRef, srcHost, err := dockerRef(src)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	dstRef, dstHost, err := dockerRef(dest)
	if err != nil {
		return "", fmt.Errorf("destination: %w", err)
	}
	vendor := sameRegistry(srcHost, o.source.Registry)
	if vendor {
		// Pulled from, logged in to and attested as the vendor registry as --srcdomain
		// spells it: the spelling of SRC decides nothing.
		o.source.Registry = tidyHost(o.source.Registry)
		if srcRef, err = onHost(srcRef, o.source.Registry); err != nil {
			return "", fmt.Errorf("source: %w", err)
		}
		srcHost = o.source.Registry
	}
	sys := func(host string) *types.SystemContext {
		for h, login := range o.logins {
			if manifest.SameRegistry(h, host) || strings.EqualFold(h, host) {
				c := sourceSystemContext(host, o.insecure, o.source.AuthFile, "", "", "")
				c.DockerAuthConfig = &login
				return c
			}
		}
		if o.source.Password == "" {
			return sourceSystemContext(host, o.insecure, o.source.AuthFile, "", "", "")
		}
		return sourceSystemContext(host, o.insecure, o.source.AuthFile, o.source.Registry, o.source.Username, o.source.Password)
	}
	var want digest.Digest
	if canon, ok := srcRef.DockerReference().(reference.Canonical); ok {
		want = canon.Digest()
	}
	switch {
	case vendor && o.skipAttestation:
		o.observer.Event(Event{Kind: EventWarn, Image: src, Message: "--insecure-skip-attestation: copying a vendor image WITHOUT verifying its attestation"})
	case o.skipAttestation:
		if want == "" || o.byoPolicy == BYOAttested {
			o.observer.Event(Event{Kind: EventWarn, Image: src, Message: fmt.Sprintf("--insecure-skip-attestation: copying an image outside the vendor registry WITHOUT the checks of --byo-policy=%s", o.byoPolicy)})
		}
	case vendor || o.byoPolicy == BYOAttested:
		var a *Attestation
		if srcRef, want, a, err = verifyCopySource(ctx, o, sys(srcHost), src, srcRef, want, vendor); err != nil {
			return "", err
		}
		o.observer.Event(Event{Kind: EventInfo, Image: src, Message: fmt.Sprintf("attestation verified: %s@%s signed by %s (%s)",
			reference.TrimNamed(srcRef.DockerReference()), want, a.Fingerprint, a.Occurrence)})
	case want == "":
		return "", notPinned(ctx, sys(srcHost), src, srcRef, o.source.Registry)
	default:
		o.observer.Event(Event{Kind: EventWarn, Image: src, Message: "not attested: an image outside the vendor registry, copied by the digest given (--byo-policy=pinned; copy does not look for an attestation of it, --byo-policy=attested does)"})
	}
	pc, err := newPolicyContext()
	if err != nil {
		return "", err
	}
	defer pc.Destroy()
	man, err := copy.Image(ctx, pc, dstRef, srcRef, &copy.Options{
		SourceCtx: sys(srcHost), DestinationCtx: withBlobInfoCache(sys(dstHost), memoryOnlyCacheDir),
		ImageListSelection: copy.CopyAllImages, PreserveDigests: true,
	})
	if err != nil {
		return "", err
	}
	got := digestOf(man)
	if want != "" && want != got {
		return "", fmt.Errorf("%w: pushed %s, source is %s", ErrDigestMismatch, got, want)
	}
	return got.String(), nil
}

// verifyCopySource verifies the vendor's attestation of srcRef (its tag resolved to a
// digest when want is empty) and returns the reference to copy: by the verified digest,
// whatever the tag points to by now.
func verifyCopySource(ctx context.Context, o copyOptions, sys *types.SystemContext, src string, srcRef types.ImageReference, want digest.Digest, vendor bool) (types.ImageReference, digest.Digest, *Attestation, error) {
	required := errAttestationRequired
	if !vendor {
		required = errBYOAttestationRequired
	}
	if o.newAttestor == nil {
		return nil, "", nil, required
	}
	att, err := o.newAttestor()
	if err != nil {
		// The attestor's own inputs (a key file, a pin, an address): its error says which.
		return nil, "", nil, fmt.Errorf("verifying the source's attestation: %w", err)
	}
	if want == "" {
		if want, err = docker.GetDigest(ctx, sys, srcRef); err != nil {
			return nil, "", nil, fmt.Errorf("resolving %s: %w", src, err)
		}
	}
	s := attest.Subject{Repository: reference.TrimNamed(srcRef.DockerReference()).String(), Digest: want}
	if err := att.Prepare(ctx, []attest.Subject{s}); err != nil {
		return nil, "", nil, fmt.Errorf("fetching attestations: %w", err)
	}
	a, err := att.Verify(ctx, s)
	if err != nil {
		return nil, "", nil, fmt.Errorf("attestation of %s@%s: %w", s.Repository, want, err)
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(srcRef.DockerReference()), want)
	if err != nil {
		return nil, "", nil, err
	}
	ref, err := docker.NewReference(canonical)
	return ref, want, a, err
}

// notPinned is ErrNotPinned for src, with the digest its tag points to now when the
// source says (one manifest request), so that the operator can pin it knowingly.
func notPinned(ctx context.Context, sys *types.SystemContext, src string, srcRef types.ImageReference, vendorRegistry string) error {
	hint := ""
	// A registry that does not answer must not hold the refusal up.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if d, err := docker.GetDigest(ctx, sys, srcRef); err == nil {
		hint = fmt.Sprintf("; its tag points to %s now: copy %s@%s if that is the image meant", d, reference.TrimNamed(srcRef.DockerReference()), d)
	}
	return fmt.Errorf("%w: %s is not on the vendor registry (%s) and names no digest: with --byo-policy=pinned (the default) an image from elsewhere is copied only by digest, as sync copies the digest a release pins%s", ErrNotPinned, src, vendorRegistry, hint)
}

func dockerRef(s string) (types.ImageReference, string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, "", err
	}
	named = reference.TagNameOnly(named)
	ref, err := docker.NewReference(named)
	if err != nil {
		return nil, "", err
	}
	return ref, reference.Domain(named), nil
}

// onHost is ref on another registry host, same path, tag and digest.
func onHost(ref types.ImageReference, host string) (types.ImageReference, error) {
	old := ref.DockerReference()
	named, err := reference.ParseNormalizedNamed(host + "/" + reference.Path(old))
	if err != nil {
		return nil, err
	}
	if t, ok := old.(reference.Tagged); ok {
		if named, err = reference.WithTag(named, t.Tag()); err != nil {
			return nil, err
		}
	}
	if d, ok := old.(reference.Digested); ok {
		if named, err = reference.WithDigest(named, d.Digest()); err != nil {
			return nil, err
		}
	}
	return docker.NewReference(named)
}
