package tmsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// WithCopySkipAttestation copies a vendor image without verifying its attestation
// (--insecure-skip-attestation); the observer is told with an EventWarn. Default: verify.
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

// CopyOne copies one image from src to dest (registry references), every platform of an
// index, keeping the digest. It returns the digest copied.
//
// A source on the vendor registry is verified like sync does: its tag resolved to a
// digest, the vendor's attestation of that digest for that repository checked, and the
// image copied by that digest, unless WithCopySkipAttestation.
func CopyOne(ctx context.Context, src, dest string, opts ...CopyOption) (string, error) {
	o := copyOptions{source: Source{Registry: manifest.DefaultVendorRegistry}, observer: ObserverFunc(func(Event) {})}
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
	case vendor:
		if o.newAttestor == nil {
			return "", errAttestationRequired
		}
		att, err := o.newAttestor()
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
		o.observer.Event(Event{Kind: EventInfo, Image: src, Message: fmt.Sprintf("attestation verified: %s@%s signed by %s (%s)", s.Repository, want, a.Fingerprint, a.Occurrence)})
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
