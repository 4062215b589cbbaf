package dist_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tmsync/tmsync/internal/dist"
	"github.com/tmsync/tmsync/internal/testbed"
)

func fakeBinaries(t *testing.T, content string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	m := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, "tmsync_linux_"+arch)
		if err := os.WriteFile(p, []byte(content+arch), 0o755); err != nil {
			t.Fatal(err)
		}
		m["linux/"+arch] = p
	}
	return m
}

func digest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// files reads every layer of img into path -> header (and content for regular files).
func files(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			hdrs[h.Name] = h
			if h.Typeflag == tar.TypeReg {
				b, _ := io.ReadAll(tr)
				data[h.Name] = b
			}
		}
		rc.Close()
	}
	return hdrs, data
}

// checkImage checks one platform image: config, labels, user, passwd entry, CA bundle,
// binary; it returns the binary.
func checkImage(t *testing.T, img v1.Image, arch, version, revision string) []byte {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("%s: config platform %s/%s", arch, cf.OS, cf.Architecture)
	}
	c := cf.Config
	if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != dist.BinaryPath {
		t.Errorf("%s: user %q entrypoint %q", arch, c.User, c.Entrypoint)
	}
	for k, want := range map[string]string{dist.LabelVersion: version, dist.LabelRevision: revision, dist.LabelSource: "https://github.com/tmsync/tmsync"} {
		if c.Labels[k] != want {
			t.Errorf("%s: label %s = %q, want %q", arch, k, c.Labels[k], want)
		}
	}
	hdrs, data := files(t, img)
	if !strings.Contains(string(data["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("%s: /etc/passwd has no nonroot 65532 entry:\n%s", arch, data["etc/passwd"])
	}
	if h := hdrs["home/nonroot/"]; h == nil || h.Uid != 65532 {
		t.Errorf("%s: /home/nonroot missing or not owned by 65532: %+v", arch, h)
	}
	n, rest := 0, data["etc/ssl/certs/ca-certificates.crt"]
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			t.Errorf("%s: CA bundle: %v", arch, err)
		}
		n++
	}
	if n < 100 {
		t.Errorf("%s: CA bundle holds %d certificates", arch, n)
	}
	h := hdrs["usr/local/bin/tmsync"]
	if h == nil || h.Mode&0o777 != 0o755 || h.Uid != 0 {
		t.Fatalf("%s: binary missing or wrong mode/owner: %+v", arch, h)
	}
	for p, h := range hdrs {
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uname != "" {
			t.Errorf("%s: %s: time %v, uname %q (want epoch, numeric owner only)", arch, p, h.ModTime, h.Uname)
		}
	}
	return data["usr/local/bin/tmsync"]
}

// TestImage builds the index from stand-in binaries: two builds give the same digest,
// any change of input another, and each platform image has what the image promises.
func TestImage(t *testing.T) {
	t.Parallel()
	bins := fakeBinaries(t, "binary-")
	opts := dist.Options{Binaries: bins, Version: "v1.2.3", Revision: "abc123"}
	a, err := dist.Image(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dist.Image(opts)
	if digest(t, a) != digest(t, b) {
		t.Fatalf("same inputs, two index digests: %s %s", digest(t, a), digest(t, b))
	}
	for _, change := range []func(o *dist.Options){
		func(o *dist.Options) { o.Revision = "abc124" },
		func(o *dist.Options) { o.Version = "v1.2.4" },
		func(o *dist.Options) { o.Created = time.Unix(1, 0) },
		func(o *dist.Options) { o.Binaries = fakeBinaries(t, "binary!") },
	} {
		o := opts
		change(&o)
		c, err := dist.Image(o)
		if err != nil {
			t.Fatal(err)
		}
		if digest(t, c) == digest(t, a) {
			t.Error("changed input, same index digest")
		}
	}
	im, err := a.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.MediaType != "application/vnd.oci.image.index.v1+json" || im.Annotations[dist.LabelRevision] != "abc123" {
		t.Fatalf("index: %+v", im)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		if p := im.Manifests[i].Platform; p == nil || p.Architecture != arch || p.OS != "linux" {
			t.Errorf("manifest %d: platform %+v", i, p)
		}
		img, err := a.Image(im.Manifests[i].Digest)
		if err != nil {
			t.Fatal(err)
		}
		if got := checkImage(t, img, arch, "v1.2.3", "abc123"); string(got) != "binary-"+arch {
			t.Errorf("%s: binary %q", arch, got)
		}
	}
	for _, bad := range []dist.Options{
		{Version: "v1", Revision: "r"},
		{Binaries: bins, Revision: "r"},
		{Binaries: map[string]string{"linux": bins["linux/amd64"]}, Version: "v1", Revision: "r"},
		{Binaries: map[string]string{"linux/amd64": "/nonexistent"}, Version: "v1", Revision: "r"},
		{Binaries: bins, Version: "v1", Revision: "r", CABundle: []byte("not pem")},
	} {
		if _, err := dist.Image(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// copySource copies the files git knows (tracked and untracked-not-ignored, as they are
// in the working tree) to dst: a source tree without .git, like a release tarball.
func copySource(t *testing.T, root, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func makeDist(t *testing.T, src, version string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("make", "dist", "VERSION="+version, "DIST=out")
	cmd.Dir = src
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make dist in %s: %v\n%s", src, err, out)
	}
	t.Logf("make dist in %s: %s", src, time.Since(start).Round(time.Second))
	return filepath.Join(src, "out")
}

// TestDist runs `make dist` twice, from two copies of the source at different paths, and
// compares the results byte for byte; then builds the image from one of them, pushes it to
// a CNCF registry, pulls it back, and runs the binary for this machine's architecture.
func TestDist(t *testing.T) {
	if testing.Short() || os.Getenv(testbed.EnvIntegration) == "skip" {
		t.Skip("builds tmsync four times and starts a registry: not in -short or " + testbed.EnvIntegration + "=skip")
	}
	for _, p := range []string{"make", "git", "sha256sum"} {
		if _, err := exec.LookPath(p); err != nil {
			if testbed.Required() {
				t.Fatalf("%s not on PATH", p)
			}
			t.Skipf("%s not on PATH", p)
		}
	}
	root := repoRoot(t)
	const version = "v0.0.0-repro"
	srcA := filepath.Join(t.TempDir(), "a")
	srcB := filepath.Join(t.TempDir(), "another", "longer", "path")
	copySource(t, root, srcA)
	copySource(t, root, srcB)
	a, b := makeDist(t, srcA, version), makeDist(t, srcB, version)

	want := []string{"SHA256SUMS", "tmsync.cdx.json", "tmsync_linux_amd64", "tmsync_linux_arm64"}
	for _, dir := range []string{a, b} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s holds %v, want %v", dir, got, want)
		}
	}
	for _, f := range want {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the two builds (%d and %d bytes)", f, len(x), len(y))
		}
	}
	// SHA256SUMS checks, names every file, and the SBOM names the module and its dependencies.
	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = a
	if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 3 {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
	sbom, _ := os.ReadFile(filepath.Join(a, "tmsync.cdx.json"))
	for _, s := range []string{`"bomFormat": "CycloneDX"`, `"name": "github.com/tmsync/tmsync"`, "pkg:golang/github.com/aws/aws-sdk-go-v2@", "pkg:golang/go.podman.io/image/v5@v5.42.1"} {
		if !bytes.Contains(sbom, []byte(s)) {
			t.Errorf("SBOM lacks %s", s)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		out, err := exec.Command("go", "version", "-m", filepath.Join(a, "tmsync_linux_"+arch)).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"CGO_ENABLED=0", "-trimpath=true", "GOARCH=" + arch, "containers_image_openpgp"} {
			if !bytes.Contains(out, []byte(s)) {
				t.Errorf("%s: build info lacks %s:\n%s", arch, s, out)
			}
		}
	}

	t.Run("image", func(t *testing.T) {
		bins := map[string]string{}
		for _, arch := range []string{"amd64", "arm64"} {
			bins["linux/"+arch] = filepath.Join(a, "tmsync_linux_"+arch)
		}
		start := time.Now()
		idx, err := dist.Image(dist.Options{Binaries: bins, Version: version, Revision: "0123abcd"})
		if err != nil {
			t.Fatal(err)
		}
		if err := dist.WriteLayout(filepath.Join(t.TempDir(), "layout"), idx); err != nil {
			t.Fatal(err)
		}
		t.Logf("image build + OCI layout: %s", time.Since(start).Round(10*time.Millisecond))
		reg := testbed.StartRegistry(t, testbed.RegistryOptions{})
		ref := reg.Ref("tmsync/tmsync:" + version)
		if err := dist.Push(context.Background(), ref, idx); err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Index(r)
		if err != nil {
			t.Fatal(err)
		}
		if digest(t, pulled) != digest(t, idx) {
			t.Errorf("pulled index %s, pushed %s", digest(t, pulled), digest(t, idx))
		}
		img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
		if err != nil {
			t.Fatal(err)
		}
		bin := checkImage(t, img, runtime.GOARCH, version, "0123abcd")
		exe := filepath.Join(t.TempDir(), "tmsync")
		if err := os.WriteFile(exe, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		// `tmsync version` does not exist yet; urfave/cli's --version prints the same stamp.
		out, err := exec.Command(exe, "--version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "tmsync version "+version {
			t.Errorf("tmsync --version from the pulled image: %v: %q", err, out)
		}
	})
}
