// Command quickstart runs tmsync's real sync on a small synthetic release, with nothing
// but Go and this repository: an in-process source registry (as the vendor's, with a
// token), a signed attestation server, and an in-process target registry, all on
// 127.0.0.1. It uses the library as a Go program would (the same engine as `tmsync sync
// --target registry`), syncs the release, syncs it again to show that a re-sync copies
// nothing, and prints the report.
//
//	make demo
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	tokenBytes := make([]byte, 16)
	_, _ = rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes) // a throwaway vendor token

	// The vendor's registry, which wants user _tm and the token.
	src := httptest.NewServer(basicAuth("_tm", token, registry.New(registry.Logger(nopLogger()))))
	defer src.Close()
	dst := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	defer dst.Close()
	srcHost, dstHost := strings.TrimPrefix(src.URL, "http://"), strings.TrimPrefix(dst.URL, "http://")

	// A small release: three images sharing a base layer, one of them a multi-arch index.
	base, err := releasetest.RandomLayer(1, 256<<10)
	if err != nil {
		return err
	}
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 2, LayerSize: 128 << 10, Base: []v1Layer{base}},
		{Repository: "vault/xpl/xpl_payees", Tag: "5.0.3", Layers: 1, LayerSize: 64 << 10, Base: []v1Layer{base}},
		{Repository: "vault/postings-api", Tag: "5.0.3", Layers: 2, LayerSize: 64 << 10, Base: []v1Layer{base}, Index: true},
	}
	reg := releasetest.Registry{Host: srcHost, Auth: &authn.Basic{Username: "_tm", Password: token}}
	for i := range images {
		if err := releasetest.Push(ctx, reg, &images[i], int64(100*i+7)); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "tmsync-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	releaseDir := filepath.Join(dir, "release")
	if err := os.Mkdir(releaseDir, 0o755); err != nil {
		return err
	}
	if _, err := releasetest.WriteRelease(releaseDir, "5.0.3", srcHost, images); err != nil {
		return err
	}

	// The vendor's attestor key signs every image digest for its repository.
	signer, err := attesttest.NewSigner("Quickstart Release Attestor")
	if err != nil {
		return err
	}
	attestations := attesttest.NewServer(token)
	defer attestations.Close()
	for _, im := range images {
		occ, err := signer.Occurrence(attest.Subject{Repository: srcHost + "/" + im.Repository, Digest: digest.Digest(im.Digest)})
		if err != nil {
			return err
		}
		attestations.Add(occ)
	}
	// The bank's side: the attestor's public key (src_attestor.pgp in a pipeline), the
	// attestation client, the target, and an engine that joins them.
	keyring, err := signer.Keyring()
	if err != nil {
		return err
	}
	verifier, err := attest.NewVerifier(keyring)
	if err != nil {
		return err
	}
	client, err := attest.NewClient(attestations.URL, attest.WithToken(token))
	if err != nil {
		return err
	}
	attestor, err := tmsync.NewAttestor(client, verifier, tmsync.AttestorOptions{})
	if err != nil {
		return err
	}
	target, err := tmsync.NewRegistryTarget(dstHost+"/3rdparty/tm", tmsync.RegistryTargetOptions{Insecure: true})
	if err != nil {
		return err
	}
	eng, err := tmsync.New(target, attestor,
		tmsync.WithSource(tmsync.Source{Registry: srcHost, Username: "_tm", Password: token}),
		tmsync.WithInsecure(srcHost, dstHost),
		tmsync.WithObserver(tmsync.ObserverFunc(func(e tmsync.Event) {
			if e.Kind != tmsync.EventInfo {
				fmt.Printf("%-5s %s %s\n", e.Kind, e.Image, e.Message)
			}
		})))
	if err != nil {
		return err
	}
	release := tmsync.ReleaseDir(releaseDir, manifest.Options{VendorRegistry: srcHost})

	fmt.Printf("== sync: %d images from %s (vendor) to %s (target), attestations at %s\n\n", len(images), srcHost, dstHost, attestations.URL)
	if rep, err := eng.Sync(ctx, release); err != nil || rep.ExitStatus() != 0 {
		return fmt.Errorf("sync: %v (exit status %d)", err, exitStatus(rep))
	}
	fmt.Printf("\n== the same sync again: every image is already there\n\n")
	rep, err := eng.Sync(ctx, release)
	if err != nil || rep.ExitStatus() != 0 {
		return fmt.Errorf("second sync: %v (exit status %d)", err, exitStatus(rep))
	}
	fmt.Printf("\n== the report (what `tmsync report report.json` prints):\n\n")
	return rep.EncodeSummary(os.Stdout)
}

func exitStatus(rep *tmsync.Report) int {
	if rep == nil {
		return 2
	}
	return rep.ExitStatus()
}

func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="vendor"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
