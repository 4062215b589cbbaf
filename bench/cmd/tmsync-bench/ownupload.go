package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"
)

// The own-upload references (issue 15, "fetch blobs into the store yourself and copy
// from the layout; choose by measurement"): every distinct blob is streamed from the
// source into the target by the bench's own client, verified by its digest on the way
// (the check containers/image makes), shared blobs mounted into the other repositories,
// and only then copy.Image runs, which finds every blob in place (one HEAD each) and
// puts the manifests. toolOwnUploadHEAD first asks the target whether it has the blob
// (HEAD), as a real tool must (a repository holding the previous release's base layers);
// toolOwnUpload does not, its floor on an empty target. Not in the default tools.
const (
	toolOwnUpload     = "own-upload"
	toolOwnUploadHEAD = "own-upload-head"
)

func ownUploadCopy(ctx context.Context, j job, head bool) error {
	src, dst := j.src.client(), j.dst.client()
	streams, mounts := streamPlan(j.imgs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, j.env.opts.Jobs))
	for _, s := range streams {
		g.Go(func() error {
			if head {
				if ok, err := dst.hasBlob(gctx, s.repo, s.dgst); err != nil || ok {
					return err
				}
			}
			rc, size, err := src.getBlob(gctx, s.repo, s.dgst)
			if err != nil {
				return err
			}
			defer rc.Close()
			loc, err := dst.startUpload(gctx, s.repo, s.dgst, "")
			if err != nil {
				return err
			}
			h := sha256.New()
			if err := dst.patchAndFinish(gctx, loc, s.dgst, size, io.TeeReader(rc, h)); err != nil {
				return err
			}
			// The registry checked the digest at the PUT too; a real tool checks before it.
			if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != s.dgst {
				return fmt.Errorf("blob %s: digest %s", s.dgst, got)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(1, j.env.opts.Jobs))
	for _, img := range j.imgs {
		g.Go(func() error {
			for _, m := range mounts[img.Repo] {
				ok, _, err := dst.mountBlob(gctx, img.Repo, m.dgst, m.repo)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("%s: mount of %s refused", img.Repo, m.dgst)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return cimageCopy(ctx, j.src, j.dst, j.imgs, j.env.opts.Jobs, j.workDir)
}
