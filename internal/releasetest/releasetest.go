// Package releasetest makes synthetic vendor releases for tests, the demo and the
// benchmarks: images of random layers pushed to a registry, a release JSON naming them
// by digest, and signed attestations. It uses go-containerregistry, which tmsync itself
// does not: a second implementation of the registry protocol checks the first.
package releasetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layer is a layer of an image (go-containerregistry's v1.Layer).
type Layer = v1.Layer

// Image is one image of a synthetic release.
type Image struct {
	// Repository is the path in the source registry and the dest below the prefix.
	Repository string
	Tag        string
	// Layers and LayerSize make the image's own random layers.
	Layers    int
	LayerSize int64
	// Base are layers put first (shared between images, as vendor images share a base).
	Base []v1.Layer
	// Index makes a multi-arch index of two platform images instead of one image.
	Index bool
	// Digest is set by Push.
	Digest string
}

// Registry is where Push writes.
type Registry struct {
	Host string
	Auth authn.Authenticator // nil: anonymous
}

func (r Registry) options(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx)}
	if r.Auth != nil {
		opts = append(opts, remote.WithAuth(r.Auth))
	}
	return opts
}

// RandomLayer returns a layer of size random bytes (uncompressed tar content), seeded so
// that a run can be repeated.
func RandomLayer(seed int64, size int64) (v1.Layer, error) {
	rnd := rand.New(rand.NewSource(seed))
	b := make([]byte, size)
	rnd.Read(b)
	return static.NewLayer(b, types.OCILayer), nil
}

// Push builds im and pushes it to reg as Repository:Tag, setting im.Digest.
func Push(ctx context.Context, reg Registry, im *Image, seed int64) error {
	ref, err := name.ParseReference(reg.Host+"/"+im.Repository+":"+im.Tag, name.Insecure)
	if err != nil {
		return err
	}
	build := func(seed int64) (v1.Image, error) {
		layers := append([]v1.Layer(nil), im.Base...)
		for i := 0; i < im.Layers; i++ {
			l, err := RandomLayer(seed+int64(i)*7919, im.LayerSize)
			if err != nil {
				return nil, err
			}
			layers = append(layers, l)
		}
		img, err := mutate.AppendLayers(empty.Image, layers...)
		if err != nil {
			return nil, err
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.Architecture, cf.OS = "amd64", "linux"
		cf.Config.Labels = map[string]string{"seed": fmt.Sprint(seed)}
		return mutate.ConfigFile(img, cf)
	}
	if !im.Index {
		img, err := build(seed)
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img, reg.options(ctx)...); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		im.Digest = d.String()
		return nil
	}
	var adds []mutate.IndexAddendum
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := build(seed + int64(i)*104729)
		if err != nil {
			return err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	if err := remote.WriteIndex(ref, idx, reg.options(ctx)...); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	im.Digest = d.String()
	return nil
}

// RandomImage returns a random image, for tests that need one quickly.
func RandomImage(size int64, layers int64) (v1.Image, error) { return random.Image(size, layers) }

// Entry is one image of a release JSON.
type Entry struct {
	Source string `json:"source"`
	Dest   string `json:"dest"`
}

// WriteRelease writes dir/<version>_release.json naming the images pushed to host.
func WriteRelease(dir, version, host string, images []Image) (string, error) {
	entries := map[string]Entry{}
	for _, im := range images {
		if im.Digest == "" {
			return "", fmt.Errorf("image %s was not pushed", im.Repository)
		}
		entries[im.Repository] = Entry{
			Source: fmt.Sprintf("%s/%s:%s@%s", host, im.Repository, im.Tag, im.Digest),
			Dest:   im.Repository + ":" + im.Tag,
		}
	}
	doc := map[string]any{"version": version, "metadata": map[string]any{"images": entries}}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, version+"_release.json")
	return path, os.WriteFile(path, b, 0o644)
}

// Names returns the repositories of images, sorted.
func Names(images []Image) []string {
	var out []string
	for _, im := range images {
		out = append(out, im.Repository)
	}
	sort.Strings(out)
	return out
}
