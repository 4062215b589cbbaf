package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
)

// blob is a content-addressed object of an image: a config or a layer.
type blob struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

// manifestRec is one stored manifest or index.
type manifestRec struct {
	Digest    string
	MediaType string
	Body      []byte
}

// benchImage is one image of the synthetic release.
type benchImage struct {
	Repo     string        // repository in the source and the targets, e.g. vault/svc-07
	Tag      string        // tag in the source and the targets
	Digest   string        // digest of the top manifest (the index for the multi-arch image)
	Index    bool          // a multi-arch index
	Children []manifestRec // the platform manifests of an index
	Top      manifestRec
	Blobs    []blob // every config and layer the image needs, deduplicated
}

// layerSpec describes one layer to generate.
type layerSpec struct {
	seed uint64
	size int64
}

// genLayer writes a valid tar+gzip layer of one file of size random bytes to w. The gzip
// stream uses stored blocks (no compression): random data does not compress anyway and
// the generation stays as fast as the random source. It returns the diff ID (digest of
// the tar stream).
func genLayer(w io.Writer, seed uint64, size int64) (string, error) {
	var s [32]byte
	for i := 0; i < 4; i++ {
		v := seed*0x9E3779B97F4A7C15 + uint64(i)*0xBF58476D1CE4E5B9
		for j := 0; j < 8; j++ {
			s[i*8+j] = byte(v >> (8 * j))
		}
	}
	rnd := rand.NewChaCha8(s)
	zw, err := gzip.NewWriterLevel(w, gzip.NoCompression)
	if err != nil {
		return "", err
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, diff))
	hdr := &tar.Header{Name: fmt.Sprintf("data-%016x.bin", seed), Mode: 0o644, Size: size,
		ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	buf := make([]byte, 256<<10)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		_, _ = rnd.Read(buf[:n])
		if _, err := tw.Write(buf[:n]); err != nil {
			return "", err
		}
		left -= n
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(diff.Sum(nil)), nil
}

type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) { c.n += int64(len(p)); return c.h.Write(p) }
func (c *countingHash) digest() string              { return "sha256:" + hex.EncodeToString(c.h.Sum(nil)) }

// generated is what genLayerAndPush made: the layer blob and its diff ID.
type generated struct {
	blob   blob
	diffID string
}

// pushLayer generates a layer and pushes it into repo. Layers up to 64 MiB are made in
// memory; bigger ones go through a temporary file in tmp, so that a 1 GiB layer never sits
// in memory.
func pushLayer(ctx context.Context, c *regClient, repo string, spec layerSpec, tmp string) (generated, error) {
	ch := &countingHash{h: sha256.New()}
	if spec.size <= 64<<20 {
		var buf bytes.Buffer
		buf.Grow(int(spec.size) + 64<<10)
		diff, err := genLayer(io.MultiWriter(&buf, ch), spec.seed, spec.size)
		if err != nil {
			return generated{}, err
		}
		b := blob{Digest: ch.digest(), Size: ch.n, MediaType: mtOCILayer}
		return generated{b, diff}, c.putBlob(ctx, repo, b.Digest, b.Size, bytes.NewReader(buf.Bytes()))
	}
	f, err := os.CreateTemp(tmp, "layer-*.tar.gz")
	if err != nil {
		return generated{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	diff, err := genLayer(io.MultiWriter(f, ch), spec.seed, spec.size)
	if err != nil {
		return generated{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return generated{}, err
	}
	b := blob{Digest: ch.digest(), Size: ch.n, MediaType: mtOCILayer}
	return generated{b, diff}, c.putBlob(ctx, repo, b.Digest, b.Size, f)
}

type descriptor struct {
	MediaType string            `json:"mediaType"`
	Digest    string            `json:"digest"`
	Size      int64             `json:"size"`
	Platform  *platform         `json:"platform,omitempty"`
	Annots    map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// pushImageManifest pushes a config for the layers and a manifest (by digest when tag is
// "") into repo.
func pushImageManifest(ctx context.Context, c *regClient, repo, tag, arch string, layers []generated) (manifestRec, []blob, error) {
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.diffID
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
		"config": map[string]any{"Labels": map[string]string{"bench.image": repo, "bench.arch": arch}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cb := blob{Digest: sha(cfg), Size: int64(len(cfg)), MediaType: mtOCIConfig}
	if err := c.putBlob(ctx, repo, cb.Digest, cb.Size, bytes.NewReader(cfg)); err != nil {
		return manifestRec{}, nil, err
	}
	m := ociManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &descriptor{MediaType: cb.MediaType, Digest: cb.Digest, Size: cb.Size}}
	blobs := []blob{cb}
	for _, l := range layers {
		m.Layers = append(m.Layers, descriptor{MediaType: l.blob.MediaType, Digest: l.blob.Digest, Size: l.blob.Size})
		blobs = append(blobs, l.blob)
	}
	body, _ := json.MarshalIndent(m, "", "   ")
	rec := manifestRec{Digest: sha(body), MediaType: mtOCIManifest, Body: body}
	ref := tag
	if ref == "" {
		ref = rec.Digest
	}
	return rec, blobs, c.putManifest(ctx, repo, ref, rec.MediaType, body)
}

// releaseSpec is the shape of a synthetic release.
type releaseSpec struct {
	Images       int   // number of images, one of which is a multi-arch index
	MinLayer     int64 // layer sizes, bytes
	MaxLayer     int64
	SharedEvery  int // every image except each SharedEvery-th shares the two base layers
	Version      string
	RepoPrefix   string
	Parallel     int
	BaseSizes    [2]int64
	Seed         uint64
	IndexImage   bool
	LayersPerImg [2]int // min, max layers per image (base layers included)
}

// genRelease pushes the synthetic release into the source registry and returns its images.
func genRelease(ctx context.Context, c *regClient, spec releaseSpec, tmp string) ([]*benchImage, error) {
	rng := rand.New(rand.NewPCG(spec.Seed, 7))
	size := func() int64 { return spec.MinLayer + rng.Int64N(spec.MaxLayer-spec.MinLayer+1) }
	seed := spec.Seed << 20
	next := func() uint64 { seed++; return seed }
	// The two base layers go into the first image's repository; others mount them.
	first := fmt.Sprintf("%ssvc-%02d", spec.RepoPrefix, 0)
	var bases [2]generated
	for i := range bases {
		g, err := pushLayer(ctx, c, first, layerSpec{next(), spec.BaseSizes[i]}, tmp)
		if err != nil {
			return nil, fmt.Errorf("base layer: %w", err)
		}
		bases[i] = g
	}
	type plan struct {
		img    *benchImage
		shared bool
		archs  []string
		own    [][]layerSpec // per arch
	}
	plans := make([]plan, spec.Images)
	for i := range plans {
		img := &benchImage{Repo: fmt.Sprintf("%ssvc-%02d", spec.RepoPrefix, i), Tag: spec.Version}
		p := plan{img: img, shared: spec.SharedEvery <= 0 || i%spec.SharedEvery != spec.SharedEvery-1 || i == 0, archs: []string{"amd64"}}
		if spec.IndexImage && i == spec.Images-1 {
			img.Index, p.shared, p.archs = true, true, []string{"amd64", "arm64"}
		}
		for range p.archs {
			n := spec.LayersPerImg[0] + rng.IntN(spec.LayersPerImg[1]-spec.LayersPerImg[0]+1)
			if p.shared {
				n -= 2
			}
			var own []layerSpec
			for j := 0; j < n; j++ {
				own = append(own, layerSpec{next(), size()})
			}
			p.own = append(p.own, own)
		}
		plans[i] = p
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, spec.Parallel))
	for _, p := range plans {
		g.Go(func() error {
			img := p.img
			var all []blob
			for ai, arch := range p.archs {
				var layers []generated
				if p.shared {
					for _, b := range bases {
						if img.Repo != first {
							if ok, loc, err := c.mountBlob(gctx, img.Repo, b.blob.Digest, first); err != nil {
								return err
							} else if !ok {
								return fmt.Errorf("mount into %s did not happen (upload %s opened)", img.Repo, loc)
							}
						}
						layers = append(layers, b)
					}
				}
				for _, ls := range p.own[ai] {
					l, err := pushLayer(gctx, c, img.Repo, ls, tmp)
					if err != nil {
						return fmt.Errorf("%s: %w", img.Repo, err)
					}
					layers = append(layers, l)
				}
				tag := img.Tag
				if img.Index {
					tag = ""
				}
				rec, blobs, err := pushImageManifest(gctx, c, img.Repo, tag, arch, layers)
				if err != nil {
					return fmt.Errorf("%s: %w", img.Repo, err)
				}
				all = append(all, blobs...)
				if img.Index {
					img.Children = append(img.Children, rec)
				} else {
					img.Top = rec
				}
			}
			if img.Index {
				idx := ociManifest{SchemaVersion: 2, MediaType: mtOCIIndex}
				for i, ch := range img.Children {
					idx.Manifests = append(idx.Manifests, descriptor{MediaType: ch.MediaType, Digest: ch.Digest,
						Size: int64(len(ch.Body)), Platform: &platform{Architecture: p.archs[i], OS: "linux"}})
				}
				body, _ := json.MarshalIndent(idx, "", "   ")
				img.Top = manifestRec{Digest: sha(body), MediaType: mtOCIIndex, Body: body}
				if err := c.putManifest(gctx, img.Repo, img.Tag, mtOCIIndex, body); err != nil {
					return fmt.Errorf("%s index: %w", img.Repo, err)
				}
			}
			img.Digest = img.Top.Digest
			img.Blobs = dedupeBlobs(all)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	imgs := make([]*benchImage, len(plans))
	for i, p := range plans {
		imgs[i] = p.img
	}
	return imgs, nil
}

func dedupeBlobs(bs []blob) []blob {
	seen := map[string]bool{}
	var out []blob
	for _, b := range bs {
		if !seen[b.Digest] {
			seen[b.Digest] = true
			out = append(out, b)
		}
	}
	return out
}

// genBigImage pushes an image with one layer of size bytes (streamed through a temporary
// file, never held in memory) as repo:tag.
func genBigImage(ctx context.Context, c *regClient, repo, tag string, size int64, seed uint64, tmp string) (*benchImage, error) {
	l, err := pushLayer(ctx, c, repo, layerSpec{seed, size}, tmp)
	if err != nil {
		return nil, err
	}
	rec, blobs, err := pushImageManifest(ctx, c, repo, tag, "amd64", []generated{l})
	if err != nil {
		return nil, err
	}
	return &benchImage{Repo: repo, Tag: tag, Digest: rec.Digest, Top: rec, Blobs: blobs}, nil
}

// releaseStats sums what a set of images holds.
type releaseStats struct {
	Images, Manifests, Blobs, Layers int
	UniqueBytes                      int64 // distinct blobs, counted once
	RepoBytes                        int64 // blobs counted once per repository that needs them
}

func statsOf(imgs []*benchImage) releaseStats {
	var s releaseStats
	seen := map[string]bool{}
	for _, img := range imgs {
		s.Images++
		s.Manifests += 1 + len(img.Children)
		for _, b := range img.Blobs {
			s.RepoBytes += b.Size
			if b.MediaType == mtOCILayer {
				s.Layers++
			}
			if !seen[b.Digest] {
				seen[b.Digest] = true
				s.Blobs++
				s.UniqueBytes += b.Size
			}
		}
	}
	return s
}

// writeRelease writes <version>_release.json for imgs pulled from host into dir.
func writeRelease(dir, version, host string, imgs []*benchImage) (string, error) {
	type entry struct {
		Source string `json:"source"`
		Dest   string `json:"dest"`
		Digest string `json:"digest"`
		Layers []blob `json:"layers,omitempty"`
	}
	images := map[string]entry{}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		e := entry{
			Source: fmt.Sprintf("%s/%s:%s@%s", host, img.Repo, img.Tag, img.Digest),
			Dest:   img.Repo + ":" + img.Tag,
			Digest: img.Digest,
		}
		if !img.Index {
			for _, b := range img.Blobs {
				if b.MediaType == mtOCILayer {
					e.Layers = append(e.Layers, b)
				}
			}
		}
		images[img.Repo] = e
		names = append(names, img.Repo)
	}
	sort.Strings(names)
	rel := map[string]any{"version": version, "built": time.Now().UTC().Format("2006-01-02"),
		"metadata": map[string]any{"images": images}}
	b, err := json.MarshalIndent(rel, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, version+"_release.json")
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}
