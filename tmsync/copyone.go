package tmsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
)

// CopyOneOptions configure CopyOne.
type CopyOneOptions struct {
	AuthFile string
	Insecure []string
	// VendorRegistry, VendorUser and VendorToken log in to the vendor registry.
	VendorRegistry, VendorUser, VendorToken string
	// NewAttestor returns the attestor that verifies a source on the vendor registry. It
	// is called only for such a source; nil refuses one (unless SkipAttestation).
	NewAttestor func() (Attestor, error)
	// SkipAttestation copies a vendor image without verifying its attestation
	// (--insecure-skip-attestation). Observer is told with a "warn" event.
	SkipAttestation bool
	// Observer is told of the verification ("info") and of a skipped one ("warn").
	Observer Observer
}

// errAttestationRequired refuses a vendor image that tmsync copy cannot verify.
var errAttestationRequired = errors.New("the source is on the vendor registry: its attestation must be verified (give --src_attestor and the attestation server, or --insecure-skip-attestation)")

// CopyOne copies one image from src to dest (registry references), every platform of an
// index, keeping the digest. It returns the digest copied.
//
// A source on the vendor registry is verified like sync does: its tag resolved to a
// digest, the vendor's attestation of that digest for that repository checked, and the
// image copied by that digest, unless o.SkipAttestation.
func CopyOne(ctx context.Context, src, dest string, o CopyOneOptions) (string, error) {
	if o.Observer == nil {
		o.Observer = ObserverFunc(func(Event) {})
	}
	srcRef, srcHost, err := dockerRef(src)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	dstRef, dstHost, err := dockerRef(dest)
	if err != nil {
		return "", fmt.Errorf("destination: %w", err)
	}
	vendor := sameRegistry(srcHost, o.VendorRegistry)
	if vendor {
		// Pulled from, logged in to and attested as the vendor registry as --srcdomain
		// spells it: the spelling of SRC decides nothing.
		o.VendorRegistry = tidyHost(o.VendorRegistry)
		if srcRef, err = onHost(srcRef, o.VendorRegistry); err != nil {
			return "", fmt.Errorf("source: %w", err)
		}
		srcHost = o.VendorRegistry
	}
	sys := func(host string) *types.SystemContext {
		s := newSystemContext(host, o.Insecure)
		s.AuthFilePath = o.AuthFile
		if sameRegistry(host, o.VendorRegistry) && o.VendorToken != "" {
			s.DockerAuthConfig = &types.DockerAuthConfig{Username: o.VendorUser, Password: o.VendorToken}
		}
		return s
	}
	var want digest.Digest
	if canon, ok := srcRef.DockerReference().(reference.Canonical); ok {
		want = canon.Digest()
	}
	switch {
	case vendor && o.SkipAttestation:
		o.Observer.Event(Event{Kind: "warn", Image: src, Message: "--insecure-skip-attestation: copying a vendor image WITHOUT verifying its attestation"})
	case vendor:
		if o.NewAttestor == nil {
			return "", errAttestationRequired
		}
		att, err := o.NewAttestor()
		if err != nil {
			return "", fmt.Errorf("%w: %w", errAttestationRequired, err)
		}
		if want == "" {
			if want, err = docker.GetDigest(ctx, sys(srcHost), srcRef); err != nil {
				return "", fmt.Errorf("resolving %s: %w", src, err)
			}
		}
		s := attest.Subject{Repository: reference.TrimNamed(srcRef.DockerReference()).String(), Digest: want}
		if err := att.Prepare(ctx, []attest.Subject{s}); err != nil {
			return "", fmt.Errorf("fetching attestations: %w", err)
		}
		a, err := att.Verify(ctx, s)
		if err != nil {
			return "", fmt.Errorf("attestation of %s@%s: %w", s.Repository, want, err)
		}
		o.Observer.Event(Event{Kind: "info", Image: src, Message: fmt.Sprintf("attestation verified: %s@%s signed by %s (%s)", s.Repository, want, a.Fingerprint, a.Occurrence)})
		// Copy what was verified: by digest, whatever the tag points to by now.
		canonical, err := reference.WithDigest(reference.TrimNamed(srcRef.DockerReference()), want)
		if err != nil {
			return "", err
		}
		if srcRef, err = docker.NewReference(canonical); err != nil {
			return "", err
		}
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
