package dist

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Paths and identity inside the image.
const (
	BinaryPath = "/usr/local/bin/tmsync"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt"
	UID        = 65532
	UserName   = "nonroot"
	Home       = "/home/nonroot"
)

// OCI annotation keys set as labels on every image and as annotations on the index.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
)

// Options describe the image. Binaries is required; the zero value of every other field is
// its documented default.
type Options struct {
	// Binaries maps a platform "os/arch" (linux/amd64, linux/arm64) to the static tmsync
	// binary for it. One image per entry, in the index in platform order.
	Binaries map[string]string
	// Version, Revision and Source become the org.opencontainers.image.* labels; Version
	// and Revision are required, Source defaults to https://github.com/tmsync/tmsync.
	Version, Revision, Source string
	// Created is the time of every file and of the image configs; zero means the Unix epoch.
	Created time.Time
	// CABundle is PEM certificates to install at CAPath instead of the pinned NSS roots
	// (e.g. a bank's TLS-inspecting proxy CA added to them).
	CABundle []byte
}

// NSSRoots returns the Mozilla NSS root certificates of the pinned
// golang.org/x/crypto/x509roots/fallback module as PEM, in the module's order. Roots that
// NSS constrains (distrusted for certificates issued after a date) are left out: a PEM file
// cannot carry the constraint, and trusting them without it would be wider than NSS.
func NSSRoots() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
	}
	return b.Bytes()
}

// Image builds the multi-arch OCI index.
func Image(opts Options) (v1.ImageIndex, error) {
	if len(opts.Binaries) == 0 {
		return nil, errors.New("building image: no binaries")
	}
	if opts.Version == "" || opts.Revision == "" {
		return nil, errors.New("building image: version and revision are required")
	}
	if opts.Source == "" {
		opts.Source = "https://github.com/tmsync/tmsync"
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	opts.Created = opts.Created.UTC().Truncate(time.Second)
	ca := opts.CABundle
	if ca == nil {
		ca = NSSRoots()
	}
	if blk, _ := pem.Decode(ca); blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("building image: the CA bundle holds no PEM certificate")
	}
	base, err := baseLayer(ca, opts.Created)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{LabelVersion: opts.Version, LabelRevision: opts.Revision, LabelSource: opts.Source}

	platforms := make([]string, 0, len(opts.Binaries))
	for p := range opts.Binaries {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		osName, arch, ok := strings.Cut(p, "/")
		if !ok || osName == "" || arch == "" {
			return nil, fmt.Errorf("building image: platform %q is not os/arch", p)
		}
		bin, err := os.ReadFile(opts.Binaries[p])
		if err != nil {
			return nil, fmt.Errorf("building image for %s: %w", p, err)
		}
		binLayer, err := layer([]entry{
			{name: "usr/", dir: true}, {name: "usr/local/", dir: true}, {name: "usr/local/bin/", dir: true},
			{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: bin},
		}, opts.Created)
		if err != nil {
			return nil, err
		}
		img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
			mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: opts.Created}, CreatedBy: "tmsync dist: CA bundle, /etc/passwd, /etc/group, home, /tmp", Comment: "internal/dist"}},
			mutate.Addendum{Layer: binLayer, History: v1.History{Created: v1.Time{Time: opts.Created}, CreatedBy: "tmsync dist: " + BinaryPath, Comment: "internal/dist"}},
		)
		if err != nil {
			return nil, fmt.Errorf("building image for %s: %w", p, err)
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = osName, arch
		cf.Created = v1.Time{Time: opts.Created}
		cf.Config = v1.Config{
			User:       fmt.Sprintf("%d:%d", UID, UID),
			Entrypoint: []string{BinaryPath},
			WorkingDir: Home,
			Env: []string{
				"PATH=/usr/local/bin:/usr/bin:/bin",
				"SSL_CERT_FILE=" + CAPath,
				"HOME=" + Home,
			},
			Labels: labels,
		}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: osName, Architecture: arch}},
		})
	}
	return mutate.Annotations(idx, labels).(v1.ImageIndex), nil
}

func baseLayer(ca []byte, t time.Time) (v1.Layer, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", UserName, UID, UID, UserName, Home)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, UID)
	return layer([]entry{
		{name: "etc/", dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", dir: true},
		{name: "etc/ssl/certs/", dir: true},
		{name: strings.TrimPrefix(CAPath, "/"), mode: 0o644, data: ca},
		{name: "home/", dir: true},
		{name: strings.TrimPrefix(Home, "/") + "/", dir: true, mode: 0o700, uid: UID},
		{name: "tmp/", dir: true, mode: 0o1777},
	}, t)
}

type entry struct {
	name string
	dir  bool
	mode int64
	uid  int
	data []byte
}

// layer writes entries (in the given order, which callers keep sorted, parents first) as
// an uncompressed tar with fixed times and numeric owners, and makes a gzip OCI layer of it.
func layer(entries []entry, t time.Time) (v1.Layer, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: t, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := b.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// WriteLayout writes idx as an OCI image layout in dir (created; must not hold another layout).
func WriteLayout(dir string, idx v1.ImageIndex) error {
	if _, err := layout.Write(dir, idx); err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	return nil
}

// Push pushes idx to ref (host/repo:tag), with credentials from the Docker config
// (~/.docker/config.json, credential helpers) as docker and crane use them. Registries on
// localhost and 127.0.0.1 are spoken to over plain HTTP.
func Push(ctx context.Context, ref string, idx v1.ImageIndex) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("pushing image: %w", err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing image to %s: %w", ref, err)
	}
	return nil
}
