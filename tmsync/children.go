package tmsync

import (
	"context"
	"fmt"

	imgmanifest "go.podman.io/image/v5/manifest"
)

// recordChildren fills in the child digests of the present images that are indexes, from
// the target, so that the report of a verify (or of a sync that found the release in
// place) names them as a copy's does. A failure to read leaves them out: the image's own
// digest was checked already.
func (r *run) recordChildren(ctx context.Context) {
	var present []*item
	for _, it := range r.items {
		if it.rec.Outcome == OutcomePresent && len(it.rec.Children) == 0 {
			present = append(present, it)
		}
	}
	forEach(ctx, present, r.o.concurrency, func(ctx context.Context, it *item) {
		children, err := r.targetChildren(ctx, it)
		if err != nil {
			r.o.logger.Warn("reading the index from the target", "image", it.img.Dest.String(), "err", err)
			return
		}
		it.rec.Children = children
	})
}

func (r *run) targetChildren(ctx context.Context, it *item) ([]string, error) {
	ref, sys, err := r.target.Reference(ctx, it.repo, it.img.Dest.Tag)
	if err != nil {
		return nil, err
	}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	man, mt, err := src.GetManifest(ctx, nil)
	if err != nil {
		return nil, err
	}
	if got := it.dgst.Algorithm().FromBytes(man); got != it.dgst {
		return nil, fmt.Errorf("%w: the target serves %s for %s", ErrDigestMismatch, got, it.img.Dest)
	}
	if !imgmanifest.MIMETypeIsMultiImage(mt) {
		return nil, nil
	}
	list, err := imgmanifest.ListFromBlob(man, mt)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range list.Instances() {
		out = append(out, d.String())
	}
	return out, nil
}
