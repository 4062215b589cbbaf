package evidence

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// CopiedReferrer is one referrer of a source image and what CopyReferrers did with it.
type CopiedReferrer struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType,omitempty"`
	// Subject is the digest it refers to: the image's, or another referrer's.
	Subject string `json:"subject"`
	// Status: "present" (already at the destination), "copied", "skipped" (not an OCI or
	// Docker manifest or index), "error".
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// ReferrersCopy is the result of CopyReferrers for one image.
type ReferrersCopy struct {
	Source         string           `json:"source"`
	Destination    string           `json:"destination"`
	Referrers      []CopiedReferrer `json:"referrers,omitempty"`
	ManifestPushes int              `json:"manifestPushes"`
}

// CopyReferrers copies the referrers of src (signatures, SBOMs the vendor attached; found
// through the referrers API or the referrers tag) to the image with the same digest in
// dstRepository, byte for byte, so their digests are preserved and their subject still
// names the image. Referrers of referrers (a signature of an SBOM) follow, up to three
// levels. Referrers already at the destination are not pushed again. The destination
// gets them through its referrers API or, without one, its referrers tag
// (go-containerregistry updates it, keeping what it lists; not safe against a concurrent
// writer of the same tag, so copy an image's referrers before its Ensure, not beside it).
// Only OCI 1.1 referrers are copied: the vendor's cosign-style tags (sha256-<hex>.sig,
// .att, .sbom) are not, since the bank's signature lives in the .sig tag.
func (c *Client) CopyReferrers(ctx context.Context, src Image, dstRepository string) (ReferrersCopy, error) {
	o := c.newOp(ctx)
	out := ReferrersCopy{Source: src.String(), Destination: dstRepository + "@" + string(src.Digest)}
	srcRef, _, err := o.resolveRef(src)
	if err != nil {
		return out, err
	}
	dstRepo, err := c.repository(dstRepository)
	if err != nil {
		return out, err
	}
	// Breadth first from the image: its referrers, then theirs (a signature of an SBOM),
	// to maxReferrerDepth levels and maxReferrers in all.
	type node struct {
		digest string
		depth  int
	}
	queue := []node{{string(src.Digest), 0}}
	seen := map[string]bool{string(src.Digest): true}
	var errs []error
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.depth >= maxReferrerDepth {
			continue
		}
		descs, err := o.referrerDescriptors(srcRef.Context().Digest(n.digest))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range descs {
			if seen[d.Digest.String()] {
				continue
			}
			seen[d.Digest.String()] = true
			if len(seen)-1 > maxReferrers { // seen holds the image itself too
				errs = append(errs, fmt.Errorf("copying the referrers of %s: more than %d", src, maxReferrers))
				queue = nil
				break
			}
			cr := CopiedReferrer{Digest: d.Digest.String(), ArtifactType: d.ArtifactType, Subject: n.digest}
			cr.Status, err = o.copyOne(srcRef.Context().Digest(d.Digest.String()), dstRepo.Digest(d.Digest.String()), d)
			if err != nil {
				cr.Status, cr.Error = "error", err.Error()
				errs = append(errs, err)
			} else {
				queue = append(queue, node{d.Digest.String(), n.depth + 1})
			}
			out.Referrers = append(out.Referrers, cr)
		}
	}
	out.ManifestPushes = int(o.pushes.Load())
	return out, errors.Join(errs...)
}

// maxReferrerDepth bounds how far referrers of referrers are followed.
const maxReferrerDepth = 3

func (o *op) copyOne(src, dst name.Digest, d v1.Descriptor) (string, error) {
	if got, err := remote.Head(dst, o.opts...); err == nil && got.Digest == d.Digest {
		return "present", nil
	} else if err != nil && !isNotFound(err) {
		return "", fmt.Errorf("looking up %s: %w", dst, err)
	}
	desc, err := remote.Get(src, o.opts...)
	if err != nil {
		return "", fmt.Errorf("reading referrer %s: %w", src, err)
	}
	if desc.Digest != d.Digest {
		return "", fmt.Errorf("reading referrer %s: registry answered %s", src, desc.Digest)
	}
	switch {
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return "", err
		}
		// remote.Write pushes the layers, the config and the manifest's raw bytes: the
		// digest does not change.
		if err := remote.Write(dst, img, o.opts...); err != nil {
			return "", fmt.Errorf("copying referrer %s: %w", src, err)
		}
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", err
		}
		if err := remote.WriteIndex(dst, idx, o.opts...); err != nil {
			return "", fmt.Errorf("copying referrer %s: %w", src, err)
		}
	default:
		return "skipped", nil
	}
	return "copied", nil
}
