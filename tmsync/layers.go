package tmsync

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	imgmanifest "go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/manifest"
)

// ErrLayersMismatch: the layers a release declares for an image are not the layers of the
// manifest it pins.
var ErrLayersMismatch = fmt.Errorf("release layers differ from the image's")

// checkDeclaredLayers compares the layers the release declares for an image with the
// layers of the manifest the source serves for the pinned digest, before anything is
// pushed. The digest pin and its attestation already bind the content; a release file
// whose layer list disagrees with it was edited or is broken, and says so loudly. An
// index has no layers of its own: its platforms are not compared. stored is the manifest
// when the run's store already holds it (nil: it is read from src).
func checkDeclaredLayers(ctx context.Context, src types.ImageReference, sys *types.SystemContext, d digest.Digest, declared []manifest.Layer, stored []byte) error {
	if len(declared) == 0 {
		return nil
	}
	man := stored
	mt := imgmanifest.GuessMIMEType(man)
	if man == nil {
		is, err := src.NewImageSource(ctx, sys)
		if err != nil {
			return err
		}
		defer is.Close()
		if man, mt, err = is.GetManifest(ctx, nil); err != nil {
			return err
		}
	}
	if got := d.Algorithm().FromBytes(man); got != d {
		return &permanentError{fmt.Errorf("%w: the source serves %s for %s", ErrDigestMismatch, got, d)}
	}
	if imgmanifest.MIMETypeIsMultiImage(mt) {
		return nil
	}
	m, err := imgmanifest.FromBlob(man, mt)
	if err != nil {
		return &permanentError{fmt.Errorf("reading the manifest of %s: %w", d, err)}
	}
	var have, want []string
	for _, l := range m.LayerInfos() {
		have = append(have, l.Digest.String())
	}
	for _, l := range declared {
		want = append(want, l.Digest.String())
	}
	if !slices.Equal(have, want) {
		return &permanentError{fmt.Errorf("%w: the release declares %d layers %v, the manifest %s has %d %v",
			ErrLayersMismatch, len(want), want, d, len(have), have)}
	}
	return nil
}
