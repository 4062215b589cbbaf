package tmsync

import (
	"context"
	"fmt"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
)

// CopyOneOptions configure CopyOne.
type CopyOneOptions struct {
	AuthFile string
	Insecure []string
	// VendorRegistry, VendorUser and VendorToken log in to the vendor registry.
	VendorRegistry, VendorUser, VendorToken string
}

// CopyOne copies one image from src to dest (registry references), every platform of an
// index, keeping the digest. It returns the digest copied.
func CopyOne(ctx context.Context, src, dest string, o CopyOneOptions) (string, error) {
	srcRef, srcHost, err := dockerRef(src)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	dstRef, dstHost, err := dockerRef(dest)
	if err != nil {
		return "", fmt.Errorf("destination: %w", err)
	}
	sys := func(host string) *types.SystemContext {
		s := newSystemContext(host, o.Insecure)
		s.AuthFilePath = o.AuthFile
		if host == o.VendorRegistry && o.VendorToken != "" {
			s.DockerAuthConfig = &types.DockerAuthConfig{Username: o.VendorUser, Password: o.VendorToken}
		}
		return s
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
	if canon, ok := srcRef.DockerReference().(reference.Canonical); ok && canon.Digest() != got {
		return "", fmt.Errorf("%w: pushed %s, source is %s", ErrDigestMismatch, got, canon.Digest())
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
