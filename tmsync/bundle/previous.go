package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

// Previous is the release an incremental bundle builds on: the blobs it carried.
type Previous struct {
	Releases      []string
	ReleaseSHA256 string
	// BundleSHA256 is the sha256 of the previous bundle's bundle.json, when it was one.
	BundleSHA256 string
	// Blobs are the blobs (configs and layers) of the previous release's images.
	Blobs map[digest.Digest]int64
}

func (p *Previous) has(d digest.Digest) bool {
	_, ok := p.Blobs[d]
	return ok
}

// ReadPrevious reads a previous bundle's bundle.json (path is the file or its bundle
// folder): every blob of its images counts as carried, external ones included (an
// import of that bundle checked that the target had them).
func ReadPrevious(path string) (*Previous, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, ManifestFile)
	}
	b, err := readFileBounded(path)
	if err != nil {
		return nil, fmt.Errorf("reading the previous bundle %s: %w", path, err)
	}
	m, err := parseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("reading the previous bundle %s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	p := &Previous{Releases: m.Releases, ReleaseSHA256: m.ReleaseSHA256, BundleSHA256: hex.EncodeToString(sum[:]),
		Blobs: map[digest.Digest]int64{}}
	for _, im := range m.Images {
		for _, bl := range im.Blobs {
			p.Blobs[bl.Digest] = bl.Size
		}
	}
	return p, nil
}

// PreviousFromImages lists the blobs of a previous release's images, read from refs
// (their manifests only; no layer is fetched). This is --since with a release folder:
// the caller resolves the folder's images to references.
func PreviousFromImages(ctx context.Context, releases []string, releaseSHA256 string, refs []types.ImageReference, sys *types.SystemContext) (*Previous, error) {
	p, err := pull.New(pull.Options{})
	if err != nil {
		return nil, err
	}
	prev := &Previous{Releases: releases, ReleaseSHA256: releaseSHA256, Blobs: map[digest.Digest]int64{}}
	for _, ref := range refs {
		infos, err := p.ImageBlobs(ctx, ref, sys)
		if err != nil {
			return nil, fmt.Errorf("listing the blobs of the previous release: %w", err)
		}
		for _, b := range infos {
			prev.Blobs[b.Digest] = b.Size
		}
	}
	return prev, nil
}

// refRE is the grammar of org.opencontainers.image.ref.name (image-spec annotations).
var refRE = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

// refNameOK checks an image name for the layout and returns its repository.
func refNameOK(name string) (string, error) {
	if !refRE.MatchString(name) {
		return "", fmt.Errorf("bundle: image name %q is not a valid OCI ref name", name)
	}
	repo, _, ok := strings.Cut(name, ":")
	if !ok {
		return "", fmt.Errorf("bundle: image name %q has no tag", name)
	}
	return repo, nil
}

// Has is what the import asks the target: does repository repo (a destination
// repository, below the prefix) hold blob d? The engine implements it.
type Has interface {
	Has(ctx context.Context, repo string, d digest.Digest) (bool, error)
}

// MissingBlob is an external blob that neither the target nor an earlier bundle holds.
type MissingBlob struct {
	Image  string
	Digest digest.Digest
	Size   int64
}

func (m MissingBlob) String() string {
	return fmt.Sprintf("%s needs blob %s (%d bytes), left out of this incremental bundle, and neither the target nor an earlier bundle has it", m.Image, m.Digest, m.Size)
}

// CheckExternal checks, before anything is pushed, that every blob left out of an
// incremental bundle is held by the target (in the image's repository) or by one of
// earlier (opened, verified bundles). It returns the missing ones, by image. target
// may be nil (only earlier bundles count). An error of target is returned as is.
func (b *Bundle) CheckExternal(ctx context.Context, target Has, earlier ...*Bundle) ([]MissingBlob, error) {
	var missing []MissingBlob
	// Tags of one repository share their blobs: the target is asked once per repository
	// and blob.
	held := map[string]bool{}
	for _, im := range b.m.Images {
		repo, _, _ := strings.Cut(im.Name, ":")
		for _, bl := range im.Blobs {
			if !bl.External {
				continue
			}
			if e := holder(bl.Digest, earlier); e != nil {
				continue
			}
			key := repo + "@" + bl.Digest.String()
			ok, asked := held[key]
			if target != nil && !asked {
				var err error
				ok, err = target.Has(ctx, repo, bl.Digest)
				if err != nil {
					return nil, fmt.Errorf("checking %s in %s: %w", bl.Digest, repo, err)
				}
				held[key] = ok
			}
			if !ok {
				missing = append(missing, MissingBlob{Image: im.Name, Digest: bl.Digest, Size: bl.Size})
			}
		}
	}
	return missing, nil
}

// holder returns the first earlier bundle holding a verified copy of d.
func holder(d digest.Digest, earlier []*Bundle) *Bundle {
	for _, e := range earlier {
		if e != nil && e.holds(d) {
			return e
		}
	}
	return nil
}

var errNoBlob = errors.New("blob not in the bundle")
