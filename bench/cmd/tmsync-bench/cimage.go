package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"
)

// toolCImage is containers/image's copy.Image and nothing else, in this process: each
// image copied from the source to the target by digest, parallel at a time, with one
// blob-info cache for the run (so shared blobs are mounted, as tmsync does) and no
// plan, puller, store, attestation or retry. It is the floor of a copy built on
// containers/image (its digest check, its existence checks, a client per image), beside
// raw streaming: what tmsync costs above it is tmsync's own.
const toolCImage = "cimage"

// inProcess reports whether tool runs in the bench process (no no-op run, no RSS).
func inProcess(tool string) bool {
	switch tool {
	case toolRaw, toolCImage, toolOwnUpload, toolOwnUploadHEAD:
		return true
	}
	return false
}

func cimageCopy(ctx context.Context, src, dst *registry, imgs []*benchImage, parallel int, work string) error {
	cacheDir, err := os.MkdirTemp(work, "cimage-blob-info-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cacheDir)
	// No credentials or registries configuration from the machine's files.
	auth, confDir := filepath.Join(cacheDir, "auth.json"), filepath.Join(cacheDir, "registries.conf.d")
	if err := os.WriteFile(auth, []byte("{}"), 0o600); err != nil {
		return err
	}
	if err := os.Mkdir(confDir, 0o700); err != nil {
		return err
	}
	sys := func(r *registry) *types.SystemContext {
		s := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, BlobInfoCacheDir: cacheDir,
			SystemRegistriesConfPath: "/dev/null", SystemRegistriesConfDirPath: confDir, AuthFilePath: auth}
		if r.User != "" {
			s.DockerAuthConfig = &types.DockerAuthConfig{Username: r.User, Password: r.Password}
		}
		return s
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, im := range imgs {
		g.Go(func() error {
			srcRef, err := docker.ParseReference("//" + src.Host + "/" + im.Repo + "@" + im.Digest)
			if err != nil {
				return err
			}
			dstRef, err := docker.ParseReference("//" + dst.Host + "/" + im.Repo + ":" + im.Tag)
			if err != nil {
				return err
			}
			// A policy context is not for concurrent use: one per copy.
			pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
			if err != nil {
				return err
			}
			defer func() { _ = pc.Destroy() }()
			_, err = copy.Image(gctx, pc, dstRef, srcRef, &copy.Options{ReportWriter: io.Discard,
				SourceCtx: sys(src), DestinationCtx: sys(dst), ImageListSelection: copy.CopyAllImages, PreserveDigests: true})
			if err != nil {
				return fmt.Errorf("%s: %w", im.Repo, err)
			}
			return nil
		})
	}
	return g.Wait()
}
