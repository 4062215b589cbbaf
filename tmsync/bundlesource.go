package tmsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// ImageSource is where a run reads its images from, when not from the registries the
// release names (WithImageSource). img is the release's image, its Source on the vendor
// registry as the run spells it.
type ImageSource interface {
	// Resolve returns the digest of an image the release does not pin (a v4 list entry).
	Resolve(ctx context.Context, img manifest.Image) (digest.Digest, error)
	// Reference returns the reference the image with digest d is copied from, and the
	// system context to read it with.
	Reference(ctx context.Context, img manifest.Image, d digest.Digest) (types.ImageReference, *types.SystemContext, error)
}

// WithImageSource makes every run read its images from src instead of the registries
// the release names (sync --from-bundle: NewBundleSource). The release's source
// references still name the images in the report and in the attestation subjects.
// Default: the vendor registry (WithSource) and the upstream registries.
func WithImageSource(src ImageSource) Option {
	return func(o *options) error {
		if src == nil {
			return errors.New("WithImageSource: nil source")
		}
		o.imageSource = src
		return nil
	}
}

// sourceRef is the reference and system context an item is copied from.
func (r *run) sourceRef(ctx context.Context, it *item) (types.ImageReference, *types.SystemContext, error) {
	if s := r.o.imageSource; s != nil {
		img := it.img
		img.Source = it.src
		return s.Reference(ctx, img, it.dgst)
	}
	ref, err := sourceReference(it.src, it.dgst)
	return ref, r.sourceSys(it.src.Registry), err
}

// resolveDigest resolves an unpinned item by its tag, from the run's source.
func (r *run) resolveDigest(ctx context.Context, it *item) (digest.Digest, error) {
	if s := r.o.imageSource; s != nil {
		img := it.img
		img.Source = it.src
		return s.Resolve(ctx, img)
	}
	return r.sourceDigest(ctx, it.src)
}

// BundleSource is the ImageSource of sync --from-bundle: every image is read from an
// opened, verified bundle (bundle.Open, Bundle.Verify), by its destination name. Blobs
// left out of an incremental bundle are read from the earlier bundles given (or, when
// the target has them, not read at all). No network.
type BundleSource struct {
	b       *bundle.Bundle
	earlier []*bundle.Bundle
}

// NewBundleSource returns the ImageSource reading from b (and earlier bundles).
func NewBundleSource(b *bundle.Bundle, earlier ...*bundle.Bundle) *BundleSource {
	return &BundleSource{b: b, earlier: earlier}
}

// Resolve implements ImageSource: the digest bundle.json gives the image.
func (s *BundleSource) Resolve(_ context.Context, img manifest.Image) (digest.Digest, error) {
	for _, im := range s.b.Manifest().Images {
		if im.Name == img.Dest.String() {
			return im.Digest, nil
		}
	}
	return "", fmt.Errorf("%w: %s", bundle.ErrNotInBundle, img.Dest)
}

// Reference implements ImageSource: the image in the bundle's OCI layout, if it passed
// Verify and has digest d. The reference's source is held to that digest
// (Bundle.ImageReference): a layout edited since Verify fails the image when copy.Image
// opens it, before anything is pushed.
func (s *BundleSource) Reference(_ context.Context, img manifest.Image, d digest.Digest) (types.ImageReference, *types.SystemContext, error) {
	res, ok := s.b.Result(img.Dest.String())
	if ok && res.Digest != d {
		return nil, nil, &permanentError{fmt.Errorf("%w: the bundle's %s is %s, the release says %s", ErrDigestMismatch, img.Dest, res.Digest, d)}
	}
	ref, err := s.b.ImageReference(img.Dest.String(), s.earlier...)
	if err != nil {
		return nil, nil, &permanentError{err}
	}
	return ref, &types.SystemContext{}, nil
}

// BundleAttestor is the Attestor of sync --from-bundle: the verdicts of Bundle.Verify,
// which checked each image's files and its attestation from the bundle's attestation
// data under the operator's key (never a key from the bundle). An image the bundle
// refused is rejected with the bundle's message (file and digest); an image without an
// attestation is reported as attest.ErrNoAttestation, so that the run's BYO policy
// decides, as for a registry-sourced sync.
type BundleAttestor struct {
	b *bundle.Bundle
	// byKey: the bundle's images by digest and repository path (without the host:
	// --srcdomain may spell the vendor registry otherwise at import).
	byKey map[string][]string
}

// NewBundleAttestor returns the Attestor of b, which must have been verified
// (Bundle.Verify, with bundle.WithAllowUnattested letting unattested images through to
// the run's BYO policy).
func NewBundleAttestor(b *bundle.Bundle) *BundleAttestor {
	a := &BundleAttestor{b: b, byKey: map[string][]string{}}
	for _, im := range b.Manifest().Images {
		if sub, err := attest.ParseSubject(im.Source); err == nil {
			k := subjectKey(sub.Repository, im.Digest)
			a.byKey[k] = append(a.byKey[k], im.Name)
		}
	}
	return a
}

func subjectKey(repo string, d digest.Digest) string {
	if host, path, ok := strings.Cut(repo, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		repo = path
	}
	return repo + "@" + d.String()
}

// Prepare implements Attestor: the bundle was verified already.
func (a *BundleAttestor) Prepare(context.Context, []attest.Subject) error { return nil }

// Verify implements Attestor.
func (a *BundleAttestor) Verify(_ context.Context, sub attest.Subject) (*Attestation, error) {
	names := a.byKey[subjectKey(sub.Repository, sub.Digest)]
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: %w: no image of the bundle is %s", attest.ErrRejected, bundle.ErrNotInBundle, sub)
	}
	var ver *attest.Verification
	for _, n := range names {
		res, ok := a.b.Result(n)
		if !ok {
			return nil, &attest.UnavailableError{Op: "verifying " + sub.String(), Err: errors.New("the bundle was not verified")}
		}
		if !res.OK {
			return nil, res.Err
		}
		if res.Attestation != nil {
			ver = res.Attestation
		}
	}
	if ver == nil {
		return nil, &attest.RejectedError{Subject: sub, NoAttestation: true}
	}
	att := &Attestation{Occurrence: ver.Occurrence, Fingerprint: ver.Fingerprint, SignedAt: ver.SignedAt,
		PayloadType: ver.PayloadType, Hash: ver.Hash, KeyExpired: ver.KeyExpired}
	if !ver.KeyExpiresAt.IsZero() {
		t := ver.KeyExpiresAt.UTC()
		att.KeyExpiresAt = &t
	}
	return att, nil
}

// BlobChecker is the bundle.Has of a target: whether a repository (a destination
// repository, below the target's prefix) holds a blob, by a HEAD on the blob in that
// repository (containers/image's TryReusingBlob, no cross-repository candidates).
type BlobChecker struct{ T Target }

// Has implements bundle.Has.
func (c BlobChecker) Has(ctx context.Context, dest string, d digest.Digest) (bool, error) {
	repo, err := c.T.RepositoryName(dest)
	if err != nil {
		return false, err
	}
	ref, sys, err := c.T.Reference(ctx, repo, "tmsync-blob-check")
	if err != nil {
		return false, err
	}
	dst, err := ref.NewImageDestination(ctx, sys)
	if err != nil {
		return false, err
	}
	defer dst.Close()
	ok, _, err := dst.TryReusingBlob(ctx, types.BlobInfo{Digest: d, Size: -1}, none.NoCache, false)
	return ok, err
}
