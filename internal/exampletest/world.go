// Package exampletest is the vendor's side of a release, in process, for the programs
// under examples/ and their tests: a vendor registry that wants user _tm and a token, a
// target registry, a release folder and a signed attestation server, all on 127.0.0.1.
package exampletest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
)

// World is a vendor and a bank's registry, with one release.
type World struct {
	// Vendor and Target are the registries' hosts (host:port, plain HTTP).
	Vendor, Target string
	// Token is the vendor token: the vendor registry's password for user _tm and the
	// attestation server's bearer token.
	Token string
	// ReleaseDir is the release folder; Images its images, pushed to Vendor.
	ReleaseDir string
	Images     []releasetest.Image
	// Attestations serves the signed occurrences at Attestations.URL.
	Attestations *attesttest.Server
	// Keyring is the vendor attestor's public key.
	Keyring openpgp.EntityList

	signer  *attesttest.Signer
	closers []func()
}

// Release is the quickstart's release: three images sharing a base layer, one of them a
// multi-arch index.
func Release() ([]releasetest.Image, error) {
	base, err := releasetest.RandomLayer(1, 256<<10)
	if err != nil {
		return nil, err
	}
	return []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 2, LayerSize: 128 << 10, Base: []v1.Layer{base}},
		{Repository: "vault/xpl/xpl_payees", Tag: "5.0.3", Layers: 1, LayerSize: 64 << 10, Base: []v1.Layer{base}},
		{Repository: "vault/postings-api", Tag: "5.0.3", Layers: 2, LayerSize: 64 << 10, Base: []v1.Layer{base}, Index: true},
	}, nil
}

// Start starts the world with images as release 5.0.3: each pushed to the vendor
// registry, and attested unless its repository is in unattested.
func Start(ctx context.Context, images []releasetest.Image, unattested ...string) (w *World, err error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	w = &World{Token: hex.EncodeToString(b)}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	src := httptest.NewServer(basicAuth("_tm", w.Token, registry.New(quiet)))
	dst := httptest.NewServer(registry.New(quiet))
	w.closers = append(w.closers, src.Close, dst.Close)
	w.Vendor, w.Target = strings.TrimPrefix(src.URL, "http://"), strings.TrimPrefix(dst.URL, "http://")

	reg := releasetest.Registry{Host: w.Vendor, Auth: &authn.Basic{Username: "_tm", Password: w.Token}}
	for i := range images {
		if err := releasetest.Push(ctx, reg, &images[i], int64(100*i+7)); err != nil {
			return w, err
		}
	}
	w.Images = images
	dir, err := os.MkdirTemp("", "tmsync-example-")
	if err != nil {
		return w, err
	}
	w.closers = append(w.closers, func() { os.RemoveAll(dir) })
	w.ReleaseDir = filepath.Join(dir, "release")
	if err := os.Mkdir(w.ReleaseDir, 0o755); err != nil {
		return w, err
	}
	if _, err := releasetest.WriteRelease(w.ReleaseDir, "5.0.3", w.Vendor, images); err != nil {
		return w, err
	}

	// The vendor's attestor key signs every image digest for its repository.
	if w.signer, err = attesttest.NewSigner("Example Release Attestor"); err != nil {
		return w, err
	}
	w.Attestations = attesttest.NewServer(w.Token)
	w.closers = append(w.closers, w.Attestations.Close)
	skip := map[string]bool{}
	for _, r := range unattested {
		skip[r] = true
	}
	for _, im := range images {
		if skip[im.Repository] {
			continue
		}
		occ, err := w.signer.Occurrence(attest.Subject{Repository: w.Vendor + "/" + im.Repository, Digest: digest.Digest(im.Digest)})
		if err != nil {
			return w, err
		}
		w.Attestations.Add(occ)
	}
	if w.Keyring, err = w.signer.Keyring(); err != nil {
		return w, err
	}
	return w, nil
}

// KeyFingerprint is the attestor key's fingerprint, for --src-attestor-fingerprint.
func (w *World) KeyFingerprint() string { return w.signer.Fingerprint() }

// WriteKey writes the attestor's armored public key (src_attestor.pgp) into dir and
// returns its path.
func (w *World) WriteKey(dir string) (string, error) {
	pub, err := w.signer.ArmoredPublicKey()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "src_attestor.pgp")
	return p, os.WriteFile(p, pub, 0o644)
}

// Close stops the servers and removes the release folder.
func (w *World) Close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			rw.Header().Set("WWW-Authenticate", `Basic realm="vendor"`)
			http.Error(rw, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}
