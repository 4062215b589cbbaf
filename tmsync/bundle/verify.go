package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
)

// VerifyOption configures Verify. Without any, every image without a valid attestation
// is refused.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	allowUnattested func(ImageRecord) bool
}

// WithAllowUnattested sets the policy for an image that has no attestation at all in
// the bundle (a BYO image): allow returning true lets it through, as sync's BYO policy
// does. Default: refused. An image whose attestation is present but does not verify is
// always refused.
func WithAllowUnattested(allow func(ImageRecord) bool) VerifyOption {
	return func(o *verifyOptions) { o.allowUnattested = allow }
}

// ImageResult is the verdict on one image of the bundle.
type ImageResult struct {
	Name   string
	Source string
	Digest digest.Digest
	// Bytes is the image's blobs, External the blobs left out (incremental).
	Bytes    int64
	External int
	// OK: every file the image needs is intact and its attestation verified under the
	// operator's key (or it is unattested and the policy allowed it).
	OK bool
	// Problems are the integrity problems, each naming the file and digest.
	Problems []string
	// Attestation is the verification, nil when none verified.
	Attestation *attest.Verification
	// Err is nil when OK; otherwise it matches ErrRefused, and ErrIntegrity or the
	// attestation's error (*attest.RejectedError, attest.ErrNoAttestation).
	Err error
}

// Summary is what `tmsync bundle verify` reports.
type Summary struct {
	Path        string
	Kind        string // "dir", "tar" or "split"
	ToolVersion string
	Releases    []string
	// ReleaseSHA256 is the release folder's digest computed from its files
	// by Open, never the one bundle.json claims; ReleaseFiles is how
	// many files it covers.
	ReleaseSHA256 string
	ReleaseFiles  int
	Incremental   bool
	// Files and FileBytes count the files bundle.json lists; Blobs and BlobBytes the
	// blobs among them; External and ExternalBytes the blobs left out.
	Files         int
	FileBytes     int64
	Blobs         int
	BlobBytes     int64
	External      int
	ExternalBytes int64
	Images        int
	Verified      int
	Refused       int
	// Problems are the bundle-wide problems (each refuses every image); Warnings are
	// findings that refuse nothing (an unlisted file in a tar, which is not extracted).
	Problems []string
	Warnings []string
	Results  []ImageResult
}

// Exit statuses, as for the rest of tmsync.
const (
	ExitOK         = 0 // every image verified
	ExitRefused    = 1 // some image refused; the others may proceed
	ExitUnreadable = 2 // the bundle could not be read (Open's error matches ErrUnreadable)
)

// ExitCode is the status for the summary: ExitOK when every image verified,
// ExitRefused otherwise.
func (s *Summary) ExitCode() int {
	if s.Refused > 0 {
		return ExitRefused
	}
	return ExitOK
}

// ExitCode maps an error of Open (or Verify's caller) to an exit status: nil is 0, an
// unreadable bundle 2, anything else 1.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUnreadable):
		return ExitUnreadable
	}
	return ExitRefused
}

// Err joins the refused images' errors (nil when none).
func (s *Summary) Err() error {
	var errs []error
	for _, r := range s.Results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, r.Err))
		}
	}
	return errors.Join(errs...)
}

// Verify checks every image's attestation with v (the operator's attestor key, never
// a key found in the bundle) against the attestation data of the bundle, and combines
// it with the integrity checks of Open. Affected images are refused, the others pass.
// The result is kept: ImageReference hands out only images that passed. A cancelled
// ctx stops it early; the images not reached are then absent from the summary.
func (b *Bundle) Verify(ctx context.Context, v *attest.Verifier, options ...VerifyOption) *Summary {
	var opts verifyOptions
	for _, opt := range options {
		opt(&opts)
	}
	s := &Summary{Path: b.path, Kind: b.kind, ToolVersion: b.m.ToolVersion, Releases: b.m.Releases,
		ReleaseSHA256: b.releaseSHA256, Incremental: b.m.Since != nil,
		Problems: slices.Clone(b.problems), Warnings: slices.Clone(b.warnings)}
	for _, f := range b.m.Files {
		s.Files++
		s.FileBytes += f.Size
		if strings.HasPrefix(f.Path, "blobs/") {
			s.Blobs++
			s.BlobBytes += f.Size
		}
		if strings.HasPrefix(f.Path, ReleaseDir+"/") {
			s.ReleaseFiles++
		}
	}
	for _, e := range b.m.External {
		s.External++
		s.ExternalBytes += e.Size
	}
	var occs *attest.Index
	attFile := AttestationsFile
	if b.m.Attestations != nil && b.m.Attestations.File != "" {
		attFile = b.m.Attestations.File
	}
	if data, err := b.readOK(attFile); err == nil {
		ab, err := attest.ReadBundle(strings.NewReader(string(data)))
		if err != nil {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: %v", attFile, err))
		} else {
			occs = attest.NewIndex(ab.Occurrences)
		}
	} else if !slices.ContainsFunc(s.Problems, func(p string) bool { return strings.HasPrefix(p, attFile) }) {
		s.Problems = append(s.Problems, fmt.Sprintf("%s: %v", attFile, err))
	}
	b.results = map[string]*ImageResult{}
	for _, im := range b.m.Images {
		if ctx.Err() != nil {
			break
		}
		r := ImageResult{Name: im.Name, Source: im.Source, Digest: im.Digest, Bytes: im.Bytes}
		for _, bl := range im.Blobs {
			if bl.External {
				r.External++
			}
		}
		r.Problems = append(slices.Clone(s.Problems), b.imgProbs[im.Name]...)
		if len(r.Problems) > 0 {
			r.Err = fmt.Errorf("%w: %w: %s", ErrRefused, ErrIntegrity, strings.Join(r.Problems, "; "))
		} else {
			r.Attestation, r.Err = verifyImage(im, v, occs, opts)
		}
		r.OK = r.Err == nil
		if r.OK {
			s.Verified++
		} else {
			s.Refused++
		}
		s.Images++
		s.Results = append(s.Results, r)
		b.results[im.Name] = &s.Results[len(s.Results)-1]
	}
	return s
}

func verifyImage(im ImageRecord, v *attest.Verifier, occs *attest.Index, opts verifyOptions) (*attest.Verification, error) {
	sub, err := attest.ParseSubject(im.Source)
	if err != nil {
		return nil, fmt.Errorf("%w: source %q: %w", ErrRefused, im.Source, err)
	}
	if sub.Digest != im.Digest {
		return nil, fmt.Errorf("%w: source %q pins %s but the bundle's image is %s", ErrRefused, im.Source, sub.Digest, im.Digest)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: no attestor key was given to verify %s", ErrRefused, sub)
	}
	ver, err := v.Verify(sub, occs.For(sub))
	if err != nil {
		if errors.Is(err, attest.ErrNoAttestation) && opts.allowUnattested != nil && opts.allowUnattested(im) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: attestation of %s in the bundle: %w", ErrRefused, sub, err)
	}
	return ver, nil
}

// Result is the verdict of the last Verify on the image named name.
func (b *Bundle) Result(name string) (ImageResult, bool) {
	r, ok := b.results[name]
	if !ok {
		return ImageResult{}, false
	}
	return *r, true
}

// ImageReference returns a containers/image reference reading the image named name
// (its destination "repository:tag") from the bundle's layout, to give to copy.Image as
// the source. Only an image that passed the last Verify is handed out (ErrRefused, or
// ErrNotInBundle). Its source yields the digest Verify vouched for or nothing: opening
// it reads the layout's manifest of that name and fails (ErrIntegrity) when its digest
// is another (a folder edited since Verify), before copy.Image has pushed anything, and
// every manifest it reads later is held to its digest too. Blobs left out of an
// incremental bundle are read from the earlier bundles given, when they hold them; the
// target's own copy makes copy.Image skip the others (it asks the destination first).
func (b *Bundle) ImageReference(name string, earlier ...*Bundle) (types.ImageReference, error) {
	r, ok := b.results[name]
	if !ok {
		if b.results == nil {
			return nil, fmt.Errorf("%w: %s: the bundle was not verified", ErrRefused, name)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotInBundle, name)
	}
	if !r.OK {
		return nil, fmt.Errorf("%s: %w", name, r.Err)
	}
	ref, err := layout.NewReference(b.root, name)
	if err != nil {
		return nil, err
	}
	return &verifiedRef{ImageReference: ref, name: name, want: r.Digest, earlier: earlier}, nil
}

// verifiedRef is a reference of the layout held to the digest Verify vouched for; it
// reads blobs missing from the layout from earlier bundles.
type verifiedRef struct {
	types.ImageReference
	name    string
	want    digest.Digest
	earlier []*Bundle
}

func (r *verifiedRef) NewImageSource(ctx context.Context, sys *types.SystemContext) (types.ImageSource, error) {
	src, err := r.ImageReference.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	s := &fallbackSource{ImageSource: src, ref: r}
	// The oci: transport reads index.json when the source is opened, takes the first
	// entry of the name and does not check the digest it gives; copy.Image checks the
	// manifest only after pushing the image's blobs, and pushes it under the tag.
	if _, _, err := s.GetManifest(ctx, nil); err != nil {
		src.Close()
		return nil, err
	}
	return s, nil
}

func (r *verifiedRef) NewImage(ctx context.Context, sys *types.SystemContext) (types.ImageCloser, error) {
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	img, err := image.FromSource(ctx, sys, src)
	if err != nil {
		src.Close()
		return nil, err
	}
	return img, nil
}

type fallbackSource struct {
	types.ImageSource
	ref *verifiedRef
}

func (s *fallbackSource) Reference() types.ImageReference { return s.ref }

// GetManifest returns a manifest of the layout only if it has the digest it must: the
// verified one for the image, instanceDigest for an instance of its index.
func (s *fallbackSource) GetManifest(ctx context.Context, instanceDigest *digest.Digest) ([]byte, string, error) {
	data, mime, err := s.ImageSource.GetManifest(ctx, instanceDigest)
	if err != nil {
		return nil, "", err
	}
	want := s.ref.want
	if instanceDigest != nil {
		want = *instanceDigest
	}
	if got := digest.FromBytes(data); got != want {
		what := "the manifest of " + s.ref.name
		if instanceDigest != nil {
			what = fmt.Sprintf("the manifest %s of %s", want, s.ref.name)
		}
		return nil, "", fmt.Errorf("%w: %w: %s in %s is %s, not the %s verified: the bundle changed since it was verified",
			ErrRefused, ErrIntegrity, what, s.ref.ImageReference.StringWithinTransport(), got, want)
	}
	return data, mime, nil
}

func (s *fallbackSource) GetBlob(ctx context.Context, info types.BlobInfo, cache types.BlobInfoCache) (io.ReadCloser, int64, error) {
	rc, size, err := s.ImageSource.GetBlob(ctx, info, cache)
	if err == nil || len(s.ref.earlier) == 0 {
		return rc, size, err
	}
	if e := holder(info.Digest, s.ref.earlier); e != nil {
		f, oerr := os.Open(filepath.Join(e.root, filepath.FromSlash(blobPath(info.Digest))))
		if oerr == nil {
			fi, serr := f.Stat()
			if serr == nil {
				return f, fi.Size(), nil // copy.Image checks the digest as it reads
			}
			f.Close()
		}
	}
	return nil, 0, fmt.Errorf("%w: %s: %w", errNoBlob, info.Digest, err)
}
