// Command quickstart runs tmsync's real sync on a small synthetic release, with nothing
// but Go and this repository: an in-process source registry (as the vendor's, with a
// token), a signed attestation server, and an in-process target registry, all on
// 127.0.0.1. It runs the same code path as `tmsync sync --target registry`, then runs it
// again to show that a re-sync copies nothing, and prints the report.
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
	pub, err := signer.ArmoredPublicKey()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "src_attestor.pgp")
	if err := os.WriteFile(keyFile, pub, 0o644); err != nil {
		return err
	}

	// tmsync reads the token from the environment, as in CodeBuild.
	os.Setenv("TM_TOKEN", token)
	args := tmsync.Args{
		SrcUser: "_tm", SrcDomain: srcHost,
		AttestationAddress: attestations.URL, AttestorKeyFile: keyFile,
		Target: "registry", TrgRegistry: dstHost, TrgPrefix: "/3rdparty/tm/",
		Insecure:   []string{srcHost, dstHost},
		ReleaseDir: releaseDir,
		ErrorLog:   filepath.Join(dir, "sync-error.log"), Report: filepath.Join(dir, "report.json"),
	}
	fmt.Printf("== tmsync sync: %d images from %s (vendor) to %s (target), attestations at %s\n\n", len(images), srcHost, dstHost, attestations.URL)
	if code := tmsync.Main(ctx, tmsync.ModeSync, args, os.Stdout); code != 0 {
		return fmt.Errorf("sync exited %d", code)
	}
	fmt.Printf("\n== the same sync again: every image is already there\n\n")
	if code := tmsync.Main(ctx, tmsync.ModeSync, args, os.Stdout); code != 0 {
		return fmt.Errorf("second sync exited %d", code)
	}
	log, err := os.ReadFile(args.ErrorLog)
	if err != nil {
		return err
	}
	fmt.Printf("\n== sync-error.log is %d bytes (empty: all good)\n\n== the report (tmsync report report.json):\n\n", len(log))
	rep, err := tmsync.ReadReport(args.Report)
	if err != nil {
		return err
	}
	return rep.WriteSummary(os.Stdout)
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
