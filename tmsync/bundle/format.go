package bundle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// FormatVersion is the bundle.json format this package writes and reads.
const FormatVersion = 1

// Names in a bundle.
const (
	ManifestFile     = "bundle.json"
	SumsFile         = "SHA256SUMS"
	AttestationsFile = "attestations.json"
	ReleaseDir       = "release"
	// AnnotationSource carries an image's source reference in the layout's index.json,
	// next to org.opencontainers.image.ref.name (its destination).
	AnnotationSource = "io.tmsync.source"
)

// maxManifestBytes bounds bundle.json and SHA256SUMS as read.
const maxManifestBytes = 64 << 20

// Manifest is bundle.json: what the bundle holds and the checksum of every file.
type Manifest struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Tool and ToolVersion name the program that wrote the bundle.
	Tool        string    `json:"tool"`
	ToolVersion string    `json:"toolVersion"`
	Created     time.Time `json:"created"`
	// Releases are the release versions of the release folder (release/).
	Releases []string `json:"releases"`
	// ReleaseSHA256 is the release folder's digest as tmsync computes it
	// (--release-sha256), when the exporter gave it.
	ReleaseSHA256 string `json:"releaseSha256,omitempty"`
	// Attestations says where the attestation data is and which keys verified it at
	// export. The import verifies with the operator's key, never with these.
	Attestations *AttestationRecord `json:"attestations,omitempty"`
	// Since is set on an incremental bundle: the previous release whose blobs are left out.
	Since *SinceRecord `json:"since,omitempty"`
	// Images, sorted by name.
	Images []ImageRecord `json:"images"`
	// External are the blobs left out because the previous release carried them.
	External []Blob `json:"external,omitempty"`
	// Files are every file of the bundle but bundle.json and SHA256SUMS, sorted by path.
	Files []FileRecord `json:"files"`
}

// AttestationRecord describes the attestation data of a bundle.
type AttestationRecord struct {
	File         string   `json:"file"`
	Occurrences  int      `json:"occurrences"`
	Fingerprints []string `json:"fingerprints,omitempty"`
	Address      string   `json:"address,omitempty"`
}

// SinceRecord names the previous release of an incremental bundle.
type SinceRecord struct {
	Releases      []string `json:"releases,omitempty"`
	ReleaseSHA256 string   `json:"releaseSha256,omitempty"`
	// Bundle is the sha256 of the previous bundle's bundle.json, when it was one.
	Bundle string `json:"bundle,omitempty"`
}

// ImageRecord is one image of the bundle.
type ImageRecord struct {
	// Name is the destination "repository:tag", the layout's ref name.
	Name string `json:"name"`
	// Source is the source reference as the release gives it.
	Source    string        `json:"source"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	// Platforms is the number of images of an index, 1 for an image.
	Platforms int `json:"platforms"`
	// Bytes is the sum of the sizes of Blobs.
	Bytes int64 `json:"bytes"`
	// Blobs are every blob the image needs: manifests, configs, layers, each once.
	Blobs []Blob `json:"blobs"`
	// Attested is false for an image exported without an attestation (a BYO image the
	// exporter's policy let through).
	Attested bool `json:"attested"`
}

// Blob is a blob of the layout.
type Blob struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType,omitempty"`
	// External: left out of this bundle (incremental); the target or an earlier bundle
	// must hold it.
	External bool `json:"external,omitempty"`
}

// FileRecord is one file of the bundle.
type FileRecord struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// blobPath is a blob's path in the layout.
func blobPath(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// safePath reports whether p is a clean relative slash path inside the bundle.
func safePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return false
	}
	if path.Clean(p) != p {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." || c == "." || c == "" {
			return false
		}
	}
	return true
}

// parseManifest reads bundle.json strictly.
func parseManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if _, err := dec.Token(); err != io.EOF { // dec.More misses a stray '}' or ']'
		return nil, fmt.Errorf("%s: data after the JSON object", ManifestFile)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("%s: format %d, this tmsync reads %d", ManifestFile, m.Format, FormatVersion)
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		switch {
		case !safePath(f.Path) || f.Path == ManifestFile || f.Path == SumsFile:
			return nil, fmt.Errorf("%s: files[%d].path %q is not a file of a bundle", ManifestFile, i, f.Path)
		case seen[f.Path]:
			return nil, fmt.Errorf("%s: files[%d].path %q is listed twice", ManifestFile, i, f.Path)
		case !hex64.MatchString(f.SHA256):
			return nil, fmt.Errorf("%s: files[%d].sha256 %q is not a lower-case sha256", ManifestFile, i, f.SHA256)
		case f.Size < 0:
			return nil, fmt.Errorf("%s: files[%d].size is negative", ManifestFile, i)
		}
		seen[f.Path] = true
	}
	names := map[string]bool{}
	for i, im := range m.Images {
		if im.Name == "" || names[im.Name] {
			return nil, fmt.Errorf("%s: images[%d].name %q is empty or given twice", ManifestFile, i, im.Name)
		}
		names[im.Name] = true
		if err := im.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%s: images[%d].digest: %w", ManifestFile, i, err)
		}
		for j, b := range im.Blobs {
			if err := b.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("%s: images[%d].blobs[%d].digest: %w", ManifestFile, i, j, err)
			}
		}
	}
	for i, b := range m.External {
		if err := b.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%s: external[%d].digest: %w", ManifestFile, i, err)
		}
	}
	return &m, nil
}

// encodeManifest writes bundle.json: indented, sorted, newline-terminated.
func encodeManifest(m *Manifest) ([]byte, error) {
	slices.SortFunc(m.Files, func(a, b FileRecord) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(m.Images, func(a, b ImageRecord) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(m.External, func(a, b Blob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return json.MarshalIndent(m, "", "  ")
}

// writeSums writes SHA256SUMS in sha256sum's text format ("<hex>  <path>"), sorted by path.
func writeSums(w io.Writer, sums map[string]string) error {
	bw := bufio.NewWriter(w)
	for _, p := range slices.Sorted(maps.Keys(sums)) {
		fmt.Fprintf(bw, "%s  %s\n", sums[p], p)
	}
	return bw.Flush()
}

// parseSums reads SHA256SUMS: "<hex>  <path>" or "<hex> *<path>" lines, LF or CRLF.
func parseSums(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
			return nil, fmt.Errorf("%s:%d: not a \"<sha256>  <path>\" line", SumsFile, i+1)
		}
		sum, p := line[:64], line[66:]
		if !hex64.MatchString(sum) {
			return nil, fmt.Errorf("%s:%d: %q is not a lower-case sha256", SumsFile, i+1, sum)
		}
		if !safePath(p) {
			return nil, fmt.Errorf("%s:%d: path %q is not a file of a bundle", SumsFile, i+1, p)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", SumsFile, i+1, p)
		}
		out[p] = sum
	}
	return out, nil
}
