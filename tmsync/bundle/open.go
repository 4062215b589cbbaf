package bundle

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	imgmanifest "go.podman.io/image/v5/manifest"

	"github.com/tmsync/tmsync/manifest"
)

// OpenOption configures Open.
type OpenOption func(*openOptions) error

type openOptions struct {
	tempDir string
}

// WithTempDir sets where a packed bundle is extracted; the extraction is removed by
// Close. Default os.TempDir().
func WithTempDir(dir string) OpenOption {
	return func(o *openOptions) error { o.tempDir = dir; return nil }
}

// Bundle is an opened bundle: every file checked against bundle.json and SHA256SUMS,
// every image's blobs found from its verified manifests. Verify adds the attestations.
type Bundle struct {
	path string
	kind string // "dir", "tar" or "split"
	root string // folder holding the files
	temp bool

	m        *Manifest
	sums     map[string]string
	files    map[string]*fileState
	problems []string // of the whole bundle: every image is refused
	warnings []string
	imgProbs map[string][]string
	needs    map[string][]digest.Digest // image -> blobs found from its manifests
	results  map[string]*ImageResult    // from the last Verify
	// releaseSHA256 is computed from the release files (checkReleaseDigest).
	releaseSHA256 string
}

type fileState struct {
	rec     FileRecord
	present bool
	size    int64
	sha     string
	problem string
}

// Open opens a bundle: a folder, a tar, or split parts (path names the base or any
// part). It reads and checks every file: a folder in place, a tar extracted into a
// temporary folder under WithTempDir, hashed while written (a tar cannot be read
// in place by the oci: transport, and extraction reads the stream once). Memory stays
// bounded: files are streamed; only bundle.json, SHA256SUMS, index.json and the image
// manifests are held.
//
// The error matches ErrUnreadable when the bundle cannot be used at all (no or a bad
// bundle.json or SHA256SUMS, a tar that ends before them, a gap in split parts, an unsafe
// or sparse tar entry, an index.json entry that does not match bundle.json, a release
// folder whose digest is not the one bundle.json claims): exit status 2. Files that are missing, truncated or altered are not an
// error of Open: the images that need them are refused by Verify (exit 1).
func Open(ctx context.Context, path string, options ...OpenOption) (*Bundle, error) {
	var opts openOptions
	for _, opt := range options {
		if err := opt(&opts); err != nil {
			return nil, err
		}
	}
	b := &Bundle{path: path, files: map[string]*fileState{}, imgProbs: map[string][]string{}, needs: map[string][]digest.Digest{}}
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		b.kind, b.root = "dir", path
		err = b.openDir(ctx)
	} else {
		var parts []string
		parts, err = Parts(path)
		if err == nil {
			b.kind = "tar"
			if len(parts) > 1 || partRE.MatchString(parts[0]) {
				b.kind = "split"
			}
			err = b.openTar(ctx, parts, opts)
		}
	}
	if err != nil {
		b.Close()
		if !errors.Is(err, ErrUnreadable) && ctx.Err() == nil {
			err = unreadable(err)
		}
		return nil, err
	}
	if err := b.evaluate(); err != nil {
		b.Close()
		return nil, unreadable(err)
	}
	return b, nil
}

// Close removes an extracted bundle. The references it handed out stop working.
func (b *Bundle) Close() error {
	if b.temp && b.root != "" {
		return os.RemoveAll(b.root)
	}
	return nil
}

// Manifest is the bundle's bundle.json as read.
func (b *Bundle) Manifest() *Manifest { return b.m }

// Dir is the folder holding the bundle's files (the bundle itself, or its extraction).
func (b *Bundle) Dir() string { return b.root }

// ReleaseDir is the folder of the release files carried by the bundle ("" if none).
// Read it only when Verify refused no image for a bundle-wide problem.
func (b *Bundle) ReleaseDir() string {
	for p := range b.files {
		if strings.HasPrefix(p, ReleaseDir+"/") {
			return filepath.Join(b.root, ReleaseDir)
		}
	}
	return ""
}

func readBounded(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxManifestBytes)
	}
	return data, nil
}

// setManifest parses bundle.json and SHA256SUMS and records bundle.json's own check.
func (b *Bundle) setManifest(mb, sb []byte) error {
	m, err := parseManifest(mb)
	if err != nil {
		return err
	}
	sums, err := parseSums(sb)
	if err != nil {
		return err
	}
	b.m, b.sums = m, sums
	sum := sha256.Sum256(mb)
	got := hex.EncodeToString(sum[:])
	switch want, ok := sums[ManifestFile]; {
	case !ok:
		b.problems = append(b.problems, fmt.Sprintf("%s is not listed in %s", ManifestFile, SumsFile))
	case want != got:
		b.problems = append(b.problems, fmt.Sprintf("%s has sha256 %s, %s says %s (one of them was changed)", ManifestFile, got, SumsFile, want))
	}
	for _, f := range m.Files {
		b.files[f.Path] = &fileState{rec: f}
	}
	for p := range sums {
		if _, ok := b.files[p]; !ok && p != ManifestFile {
			b.warnings = append(b.warnings, fmt.Sprintf("%s lists %s, which %s does not", SumsFile, p, ManifestFile))
		}
	}
	return nil
}

func (b *Bundle) openDir(ctx context.Context) error {
	mb, err := readFileBounded(filepath.Join(b.root, ManifestFile))
	if err != nil {
		return err
	}
	sb, err := readFileBounded(filepath.Join(b.root, SumsFile))
	if err != nil {
		return err
	}
	if err := b.setManifest(mb, sb); err != nil {
		return err
	}
	b.unlistedReleaseFiles()
	for _, p := range slices.Sorted(maps.Keys(b.files)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := b.files[p]
		full := filepath.Join(b.root, filepath.FromSlash(p))
		fi, err := os.Lstat(full)
		if err != nil {
			continue // missing
		}
		if !fi.Mode().IsRegular() {
			st.present = true
			st.problem = "is not a regular file"
			continue
		}
		f, err := os.Open(full)
		if err != nil {
			st.present, st.problem = true, "cannot be read: "+err.Error()
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		st.present, st.size, st.sha = true, n, hex.EncodeToString(h.Sum(nil))
		if err != nil {
			st.problem = "cannot be read: " + err.Error()
		}
	}
	return nil
}

// unlistedReleaseFiles makes a problem of every file at the top of a folder bundle's
// release/ that bundle.json does not list: the run reads the release folder as a folder
// (its destinations, its versions), with the postfixes of its own flags, which the bundle
// does not know, so any such file could be read without having been verified. The release
// loader reads the folder's top level only and passes over names starting with "."
// (manifest.Load), so those (a .DS_Store, the ._ files macOS leaves on a FAT stick) and
// subfolders are left alone. A tar's unlisted members are not
// extracted, so only a folder has such files.
func (b *Bundle) unlistedReleaseFiles() {
	entries, err := os.ReadDir(filepath.Join(b.root, ReleaseDir))
	if err != nil {
		return // no release folder: a listed release file is then missing, said elsewhere
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if rel := ReleaseDir + "/" + e.Name(); b.files[rel] == nil {
			b.problems = append(b.problems, fmt.Sprintf("%s is in the bundle's release folder but not listed in %s (a file there could be read as part of the release without being verified)", rel, ManifestFile))
		}
	}
}

func readFileBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f, filepath.Base(p))
}

func (b *Bundle) openTar(ctx context.Context, parts []string, opts openOptions) error {
	rc, err := openParts(parts)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	head := func(want string) ([]byte, error) {
		hdr, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: the tar ends before %s (%v)", parts[0], want, err)
		}
		if hdr.Name != want || hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: the tar does not start with %s and %s (found %q)", parts[0], ManifestFile, SumsFile, hdr.Name)
		}
		data, err := readBounded(tr, want)
		if err != nil {
			return nil, fmt.Errorf("%s: the tar is cut in %s: %w", parts[0], want, err)
		}
		return data, nil
	}
	mb, err := head(ManifestFile)
	if err != nil {
		return err
	}
	sb, err := head(SumsFile)
	if err != nil {
		return err
	}
	if err := b.setManifest(mb, sb); err != nil {
		return err
	}
	b.root, err = os.MkdirTemp(opts.tempDir, "tmsync-bundle-")
	if err != nil {
		return err
	}
	b.temp = true
	seen := map[string]bool{ManifestFile: true, SumsFile: true}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			b.warnings = append(b.warnings, fmt.Sprintf("the tar is cut short or damaged after %d files: %v", len(seen), err))
			return nil
		}
		name := hdr.Name
		if kind := sparseKind(hdr); kind != "" {
			// A sparse entry expands to its declared size from a few bytes of tar: the
			// packer never writes one.
			return fmt.Errorf("%w: %q is a sparse file (%s)", ErrUnsafeEntry, name, kind)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeDir:
			if !safePath(strings.TrimSuffix(name, "/")) {
				return fmt.Errorf("%w: directory %q", ErrUnsafeEntry, name)
			}
			continue
		default:
			return fmt.Errorf("%w: %q is a %s, not a regular file", ErrUnsafeEntry, name, typeName(hdr.Typeflag))
		}
		if !safePath(name) {
			return fmt.Errorf("%w: %q is not a relative path inside the bundle", ErrUnsafeEntry, name)
		}
		if seen[name] {
			return fmt.Errorf("%w: %q is in the tar twice", ErrUnsafeEntry, name)
		}
		seen[name] = true
		st, listed := b.files[name]
		if !listed {
			b.warnings = append(b.warnings, fmt.Sprintf("the tar holds %s, which %s does not list: not extracted", name, ManifestFile))
			continue
		}
		if hdr.Size != st.rec.Size {
			// Checked before a byte is written: the tar's size is what it would write.
			st.present = true
			st.problem = fmt.Sprintf("is %d bytes in the tar, %s says %d: not extracted", hdr.Size, ManifestFile, st.rec.Size)
			continue
		}
		if err := b.extract(tr, st); err != nil {
			var cut *cutError
			if errors.As(err, &cut) {
				b.warnings = append(b.warnings, fmt.Sprintf("the tar is cut short in %s", name))
				return nil
			}
			return err
		}
	}
}

type cutError struct{ err error }

func (e *cutError) Error() string { return e.err.Error() }

// sparseKind says how hdr is a GNU sparse entry, old (type 'S') or PAX (0.x, 1.0), or ""
// when it is not one. Of several sparse PAX records, the first by name is said.
func sparseKind(hdr *tar.Header) string {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return "GNU sparse type"
	}
	for _, k := range slices.Sorted(maps.Keys(hdr.PAXRecords)) {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Sprintf("PAX record %s=%s", k, hdr.PAXRecords[k])
		}
	}
	return ""
}

// extract writes one entry under root, hashing it. The caller extracts only an entry
// whose tar size is the size bundle.json records (and refuses sparse ones), so the tar
// reader yields exactly that many bytes; the limit is a second fence.
func (b *Bundle) extract(r io.Reader, st *fileState) error {
	full := filepath.Join(b.root, filepath.FromSlash(st.rec.Path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(full, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, st.rec.Size))
	if cerr := f.Close(); err == nil && cerr != nil {
		return cerr
	}
	st.present, st.size, st.sha = true, n, hex.EncodeToString(h.Sum(nil))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			st.problem = fmt.Sprintf("is cut short at %d bytes (the tar ends inside it)", n)
			return &cutError{err}
		}
		return err
	}
	return nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("entry of type %q", t)
}

// evaluate decides every file's state, then every image's integrity. Its error is a
// bundle that contradicts itself in files that passed their checks (index.json against
// bundle.json, the release folder against its claimed digest): the integrity files
// were rewritten, so nothing of it is used.
func (b *Bundle) evaluate() error {
	for _, p := range slices.Sorted(maps.Keys(b.files)) {
		st := b.files[p]
		rec := st.rec
		want, inSums := b.sums[p]
		switch {
		case st.problem != "":
		case !st.present:
			st.problem = "is missing"
		case st.size != rec.Size:
			st.problem = fmt.Sprintf("has %d bytes, %s says %d (truncated or changed)", st.size, ManifestFile, rec.Size)
		case st.sha != rec.SHA256:
			st.problem = fmt.Sprintf("has sha256 %s, %s says %s (altered)", st.sha, ManifestFile, rec.SHA256)
		case !inSums:
			st.problem = fmt.Sprintf("is not listed in %s", SumsFile)
		case want != rec.SHA256:
			st.problem = fmt.Sprintf("has sha256 %s in %s but %s in %s (one of them was changed)", want, SumsFile, rec.SHA256, ManifestFile)
		}
		if st.problem == "" && strings.HasPrefix(p, "blobs/sha256/") && path.Base(p) != st.sha {
			st.problem = fmt.Sprintf("is named for a digest it does not have (sha256 %s)", st.sha)
		}
		if st.problem != "" && !strings.HasPrefix(p, "blobs/") {
			b.problems = append(b.problems, p+" "+st.problem)
		}
	}
	for _, want := range []string{ocispec.ImageLayoutFile, "index.json", AttestationsFile} {
		if _, ok := b.files[want]; !ok {
			b.problems = append(b.problems, fmt.Sprintf("%s does not list %s", ManifestFile, want))
		}
	}
	if err := b.checkReleaseDigest(); err != nil {
		return err
	}
	index := map[string]ocispec.Descriptor{}
	if data, err := b.readOK("index.json"); err == nil {
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			b.problems = append(b.problems, "index.json: "+err.Error())
		} else if index, err = b.checkIndex(idx); err != nil {
			return err
		}
	}
	for _, im := range b.m.Images {
		b.imgProbs[im.Name] = b.checkImage(im, index)
	}
	return nil
}

// checkIndex returns index.json's entries by name, each matching its image's record in
// bundle.json. An entry that does not is refused, the bundle with it: the oci: transport
// takes the first entry of a name and reads whatever digest it gives, so a second entry
// of a name, or one bundle.json does not describe, could put an image that was never
// verified under a verified image's tag.
func (b *Bundle) checkIndex(idx ocispec.Index) (map[string]ocispec.Descriptor, error) {
	records := map[string]ImageRecord{}
	for _, im := range b.m.Images {
		records[im.Name] = im
	}
	entry := func(i int) string {
		d := idx.Manifests[i]
		return fmt.Sprintf("index.json: manifests[%d] (%s %q, %s)", i, ocispec.AnnotationRefName, d.Annotations[ocispec.AnnotationRefName], d.Digest)
	}
	index := map[string]ocispec.Descriptor{}
	at := map[string]int{}
	for i, d := range idx.Manifests {
		name := d.Annotations[ocispec.AnnotationRefName]
		if name == "" {
			return nil, fmt.Errorf("%s has no image name", entry(i))
		}
		if j, dup := at[name]; dup {
			return nil, fmt.Errorf("index.json: manifests[%d] and manifests[%d] both name %s (%s and %s): one entry per image",
				j, i, name, idx.Manifests[j].Digest, d.Digest)
		}
		at[name], index[name] = i, d
	}
	for i, d := range idx.Manifests {
		name := d.Annotations[ocispec.AnnotationRefName]
		entry := entry(i)
		rec, ok := records[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s names an image %s does not list", entry, ManifestFile)
		case d.Digest != rec.Digest:
			return nil, fmt.Errorf("%s: %s gives %s the digest %s", entry, ManifestFile, name, rec.Digest)
		case d.MediaType != rec.MediaType || d.Size != rec.Size:
			return nil, fmt.Errorf("%s is a %s of %d bytes, %s says a %s of %d bytes", entry, d.MediaType, d.Size, ManifestFile, rec.MediaType, rec.Size)
		case d.Annotations[AnnotationSource] != rec.Source:
			return nil, fmt.Errorf("%s gives the source %q, %s says %q", entry, d.Annotations[AnnotationSource], ManifestFile, rec.Source)
		}
	}
	return index, nil
}

// checkReleaseDigest computes the digest of the release folder the bundle carries, as
// tmsync computes it for --release-sha256 (tmsync.ReleaseDigest: the SHA-256 of the
// sorted lines "<sha256>  <path in the folder>\n" of its files), from the files that
// passed their checks; a bundle.json that claims another is refused. A release file that
// failed its checks is a problem of the bundle already: no digest then.
func (b *Bundle) checkReleaseDigest() error {
	files := map[string]string{}
	for p, st := range b.files {
		rel, ok := strings.CutPrefix(p, ReleaseDir+"/")
		if !ok {
			continue
		}
		if st.problem != "" {
			return nil
		}
		files[rel] = st.sha
	}
	if len(files) == 0 {
		return nil
	}
	b.releaseSHA256 = manifest.FolderDigest(files)
	if claim := b.m.ReleaseSHA256; claim != "" && claim != b.releaseSHA256 {
		return fmt.Errorf("%s: releaseSha256 is %s, but the release folder it carries (%d files under %s/) hashes to %s",
			ManifestFile, claim, len(files), ReleaseDir, b.releaseSHA256)
	}
	return nil
}

// readOK reads a small file of the bundle that passed its checks.
func (b *Bundle) readOK(p string) ([]byte, error) {
	st, ok := b.files[p]
	if !ok || st.problem != "" {
		return nil, fmt.Errorf("%s did not pass its checks", p)
	}
	return readFileBounded(filepath.Join(b.root, filepath.FromSlash(p)))
}

// blobProblem says why blob d of an image cannot be used, or "".
func (b *Bundle) blobProblem(d digest.Digest) string {
	if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
		return fmt.Sprintf("blob %s: not a sha256 digest", d)
	}
	p := blobPath(d)
	st, ok := b.files[p]
	if !ok {
		return fmt.Sprintf("%s (blob %s) is not listed in %s", p, d, ManifestFile)
	}
	if st.problem != "" {
		return fmt.Sprintf("%s (blob %s) %s", p, d, st.problem)
	}
	return ""
}

func (b *Bundle) holds(d digest.Digest) bool { return b.blobProblem(d) == "" }

// checkImage walks an image's manifests in the layout and checks every blob it needs.
func (b *Bundle) checkImage(im ImageRecord, index map[string]ocispec.Descriptor) []string {
	var probs []string
	if _, ok := index[im.Name]; !ok {
		// checkIndex held every entry to its record.
		return []string{fmt.Sprintf("index.json has no image named %s", im.Name)}
	}
	declared := map[digest.Digest]Blob{}
	for _, bl := range im.Blobs {
		declared[bl.Digest] = bl
	}
	found := map[digest.Digest]bool{}
	var order []digest.Digest
	need := func(d digest.Digest, mayBeExternal bool) bool {
		if !found[d] {
			found[d] = true
			order = append(order, d)
		}
		if mayBeExternal && declared[d].External {
			return true
		}
		if p := b.blobProblem(d); p != "" {
			probs = append(probs, p)
			return false
		}
		return true
	}
	readMan := func(d digest.Digest) ([]byte, bool) {
		if !need(d, false) {
			return nil, false
		}
		data, err := readFileBounded(filepath.Join(b.root, filepath.FromSlash(blobPath(d))))
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s (manifest %s): %v", blobPath(d), d, err))
			return nil, false
		}
		return data, true
	}
	top, ok := readMan(im.Digest)
	if !ok {
		return probs
	}
	mans := [][]byte{top}
	mime := imgmanifest.GuessMIMEType(top)
	if imgmanifest.MIMETypeIsMultiImage(mime) {
		list, err := imgmanifest.ListFromBlob(top, mime)
		if err != nil {
			return append(probs, fmt.Sprintf("%s (index %s): %v", blobPath(im.Digest), im.Digest, err))
		}
		mans = nil
		for _, d := range list.Instances() {
			if m, ok := readMan(d); ok {
				mans = append(mans, m)
			}
		}
	}
	for _, m := range mans {
		parsed, err := imgmanifest.FromBlob(m, imgmanifest.GuessMIMEType(m))
		if err != nil {
			probs = append(probs, fmt.Sprintf("a manifest of %s: %v", im.Name, err))
			continue
		}
		need(parsed.ConfigInfo().Digest, false)
		for _, l := range parsed.LayerInfos() {
			need(l.Digest, true)
		}
	}
	if len(probs) == 0 {
		for d := range declared {
			if !found[d] {
				probs = append(probs, fmt.Sprintf("%s lists blob %s for %s, which its manifests do not reference", ManifestFile, d, im.Name))
			}
		}
		for _, d := range order {
			if _, ok := declared[d]; !ok {
				probs = append(probs, fmt.Sprintf("the manifests of %s reference blob %s, which %s does not list", im.Name, d, ManifestFile))
			}
		}
	}
	b.needs[im.Name] = order
	slices.Sort(probs)
	return slices.Compact(probs)
}
