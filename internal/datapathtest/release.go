package datapathtest

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// ReleaseOptions shape SharedBaseRelease. The zero value of each field is its default.
type ReleaseOptions struct {
	// Images is the number of images, the multi-arch one included. Default 24.
	Images int
	// BaseLayers is the number of base layers every image starts with. Default 2.
	BaseLayers int
	// BaseSize is the size of each base layer. Default 1 MiB.
	BaseSize int64
	// OwnLayers and LayerSize make each image's (each platform's) own layers.
	// Default 2 of 128 KiB.
	OwnLayers int
	LayerSize int64
	// Seed makes the content; the same seed, the same digests. Default 0.
	Seed int64
}

func (o ReleaseOptions) withDefaults() ReleaseOptions {
	if o.Images == 0 {
		o.Images = 24
	}
	if o.BaseLayers == 0 {
		o.BaseLayers = 2
	}
	if o.BaseSize == 0 {
		o.BaseSize = 1 << 20
	}
	if o.OwnLayers == 0 {
		o.OwnLayers = 2
	}
	if o.LayerSize == 0 {
		o.LayerSize = 128 << 10
	}
	return o
}

// SharedBaseRelease pushes a release shaped like a vendor's to reg and returns its
// images, digests set: every image starts with the same base layers, the first one
// ("vault/core") is a multi-arch index of two platform images, the others
// ("vault/svcNN") single images.
func SharedBaseRelease(ctx context.Context, reg releasetest.Registry, o ReleaseOptions) ([]releasetest.Image, error) {
	o = o.withDefaults()
	base := make([]releasetest.Layer, o.BaseLayers)
	for i := range base {
		l, err := releasetest.RandomLayer(o.Seed*1000+int64(i)+1, o.BaseSize)
		if err != nil {
			return nil, err
		}
		base[i] = l
	}
	images := make([]releasetest.Image, o.Images)
	for i := range images {
		images[i] = releasetest.Image{Repository: fmt.Sprintf("vault/svc%02d", i), Tag: "5.0.3",
			Layers: o.OwnLayers, LayerSize: o.LayerSize, Base: base}
		if i == 0 {
			images[i].Repository, images[i].Index = "vault/core", true
		}
		// releasetest.Push seeds layer l with seed+l*7919 and platform k with
		// seed+k*104729: images' seeds far apart keep each image's own layers its own
		// (a step of 7919 made image i's layer 1 image i+1's layer 0).
		if err := releasetest.Push(ctx, reg, &images[i], o.Seed*1_000_000_007+int64(i)*15_485_863+17); err != nil {
			return nil, err
		}
	}
	return images, nil
}

// Distinct is the content of a release counted once per blob.
type Distinct struct {
	// Bytes is the sum of the sizes of the distinct blobs (configs and layers) the
	// release's images reference; manifests and indexes are not counted.
	Bytes int64
	// Blobs is how many distinct blobs there are.
	Blobs int
}

// DistinctOf reads the images' manifests from reg and counts their distinct blobs.
func DistinctOf(ctx context.Context, reg releasetest.Registry, images []releasetest.Image) (Distinct, error) {
	opts := []remote.Option{remote.WithContext(ctx)}
	if reg.Auth != nil {
		opts = append(opts, remote.WithAuth(reg.Auth))
	}
	sizes := map[v1.Hash]int64{}
	addImage := func(img v1.Image) error {
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		sizes[m.Config.Digest] = m.Config.Size
		for _, l := range m.Layers {
			sizes[l.Digest] = l.Size
		}
		return nil
	}
	for _, im := range images {
		ref, err := name.NewDigest(reg.Host+"/"+im.Repository+"@"+im.Digest, name.Insecure)
		if err != nil {
			return Distinct{}, err
		}
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return Distinct{}, fmt.Errorf("reading %s: %w", ref, err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err != nil {
				return Distinct{}, err
			}
			im, err := idx.IndexManifest()
			if err != nil {
				return Distinct{}, err
			}
			for _, c := range im.Manifests {
				img, err := idx.Image(c.Digest)
				if err != nil {
					return Distinct{}, err
				}
				if err := addImage(img); err != nil {
					return Distinct{}, err
				}
			}
			continue
		}
		img, err := desc.Image()
		if err != nil {
			return Distinct{}, err
		}
		if err := addImage(img); err != nil {
			return Distinct{}, err
		}
	}
	var d Distinct
	for _, s := range sizes {
		d.Bytes += s
		d.Blobs++
	}
	return d, nil
}
