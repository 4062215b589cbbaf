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
// names the image. Referrers already at the destination are not pushed again. The
// destination gets them through its referrers API or, without one, its referrers tag
// (go-containerregistry updates it, keeping what it lists). One level only: referrers of
// referrers are not followed.
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
	descs, err := o.referrerDescriptors(srcRef)
	if err != nil {
		return out, err
	}
	var errs []error
	for _, d := range descs {
		cr := CopiedReferrer{Digest: d.Digest.String(), ArtifactType: d.ArtifactType}
		cr.Status, err = o.copyOne(srcRef.Context().Digest(d.Digest.String()), dstRepo.Digest(d.Digest.String()), d)
		if err != nil {
			cr.Status, cr.Error = "error", err.Error()
			errs = append(errs, err)
		}
		out.Referrers = append(out.Referrers, cr)
	}
	out.ManifestPushes = int(o.pushes.Load())
	return out, errors.Join(errs...)
}

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
