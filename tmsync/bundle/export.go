package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	imgmanifest "go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

// Image is an image to export: already verified by the caller (its attestation checked
// as sync checks it), pinned by digest.
type Image struct {
	// Name is the destination "repository:tag" (below the target prefix): the layout's
	// org.opencontainers.image.ref.name.
	Name string
	// Source is the source reference as the release gives it (AnnotationSource).
	Source string
	// Digest is the manifest or index digest the attestation vouches for.
	Digest digest.Digest
	// Ref is where the image is read from (a docker reference to the vendor registry).
	Ref types.ImageReference
	// Attested is true when an attestation given to WithAttestations verified it.
	Attested bool
}

// ExportOption configures Export. Options are applied in order, after the defaults;
// Export reports every problem of them at once.
type ExportOption func(*exportOptions) error

type exportOptions struct {
	releaseDir    string
	releaseFiles  []manifest.File
	releases      []string
	releaseSHA256 string
	attestations  attest.Bundle
	fingerprints  []string
	toolVersion   string
	since         *Previous
	systemContext *types.SystemContext
	jobs          int
	retries       int
	idleTimeout   time.Duration
	now           func() time.Time
	progress      func(ProgressEvent)
}

// Defaults of Export's options.
const (
	// DefaultJobs is how many images Export fetches at once.
	DefaultJobs = 4
	// DefaultToolVersion is written to bundle.json when WithToolVersion is not given.
	DefaultToolVersion = "dev"
)

// WithRelease sets the release folder dir, whose files are copied byte for byte under
// release/, and files, those tmsync read from it (manifest.Release.Files), each checked
// against its SHA256 while copied (nil: every regular, non-hidden file at the top of
// dir). Default: no release folder (the import then has none to read).
func WithRelease(dir string, files []manifest.File) ExportOption {
	return func(o *exportOptions) error { o.releaseDir, o.releaseFiles = dir, files; return nil }
}

// WithReleases sets the release versions written to bundle.json. Default: none.
func WithReleases(versions ...string) ExportOption {
	return func(o *exportOptions) error { o.releases = append(o.releases, versions...); return nil }
}

// WithReleaseSHA256 records the release folder's digest (tmsync.ReleaseDigest).
// Default: not recorded.
func WithReleaseSHA256(sha string) ExportOption {
	return func(o *exportOptions) error { o.releaseSHA256 = sha; return nil }
}

// WithAttestations sets the occurrences that verified the images, written with
// attest.WriteBundle, and the fingerprints of the attestor keys that verified them.
// Default: none (an import then refuses every attested image).
func WithAttestations(b attest.Bundle, fingerprints ...string) ExportOption {
	return func(o *exportOptions) error { o.attestations, o.fingerprints = b, fingerprints; return nil }
}

// WithToolVersion sets the tool version written to bundle.json. Default DefaultToolVersion.
func WithToolVersion(v string) ExportOption {
	return func(o *exportOptions) error { o.toolVersion = v; return nil }
}

// WithSince makes an incremental bundle: layers the previous release carried are left
// out and recorded as external. Default: a full bundle.
func WithSince(p *Previous) ExportOption {
	return func(o *exportOptions) error { o.since = p; return nil }
}

// WithSystemContext sets the system context the image references are opened with.
// Default: nil (containers/image's defaults).
func WithSystemContext(sys *types.SystemContext) ExportOption {
	return func(o *exportOptions) error { o.systemContext = sys; return nil }
}

// WithJobs sets how many images are fetched at once. Default DefaultJobs.
func WithJobs(n int) ExportOption {
	return func(o *exportOptions) error {
		if n < 1 {
			return fmt.Errorf("bundle: jobs %d: want 1 or more", n)
		}
		o.jobs = n
		return nil
	}
}

// WithPullRetries sets how many times the resilient pull (internal/pull) tries a blob
// again, 0 meaning its default; and idle, how long a read may stall (0: its default).
// Default: those of pull.Options (6 retries, 60 s).
func WithPullRetries(retries int, idle time.Duration) ExportOption {
	return func(o *exportOptions) error {
		if retries < 0 || idle < 0 {
			return fmt.Errorf("bundle: pull retries %d, idle timeout %s: want 0 or more", retries, idle)
		}
		o.retries, o.idleTimeout = retries, idle
		return nil
	}
}

// WithClock sets the clock of bundle.json's created time. Default time.Now.
func WithClock(now func() time.Time) ExportOption {
	return func(o *exportOptions) error { o.now = now; return nil }
}

func newExportOptions(opts []ExportOption) (exportOptions, error) {
	o := exportOptions{jobs: DefaultJobs, toolVersion: DefaultToolVersion, now: time.Now}
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if o.now == nil {
		errs = append(errs, errors.New("bundle: WithClock: nil clock"))
	}
	return o, errors.Join(errs...)
}

// ExportStats count what Export did.
type ExportStats struct {
	// Fetched is the blobs read from the source in this run, FetchedBytes their bytes.
	Fetched      int
	FetchedBytes int64
	// Reused is the blobs found in the folder from an interrupted earlier run and kept.
	Reused int
	// External is the layers left out (incremental), ExternalBytes their bytes.
	External      int
	ExternalBytes int64
}

// outageLimit is pull.Options.OutageLimit for Export's puller (0: its default); tests
// shorten it.
var outageLimit time.Duration

// Export writes a bundle of images into dir (created if missing) and returns its
// bundle.json. It reads every image's manifests first, then their blobs, opts' jobs
// images at a time in each phase. A rerun into the same folder after an interruption keeps
// the blobs already there (each is hashed once, not fetched again). bundle.json and SHA256SUMS are
// written last, when every image is in: a folder without them is not a bundle.
// A folder another export is writing, or one that is neither empty nor a layout, is
// refused before anything in it changes (ErrFolderRefused).
// Per-image failures are joined into the error; no bundle.json is then written.
func Export(ctx context.Context, dir string, images []Image, options ...ExportOption) (*Manifest, ExportStats, error) {
	opts, err := newExportOptions(options)
	if err != nil {
		return nil, ExportStats{}, err
	}
	if err := checkImages(images); err != nil {
		return nil, ExportStats{}, err
	}
	// Then the store: it refuses a folder another export is writing, or one that is
	// neither empty nor a layout; both checks before anything in it is changed.
	if err := checkDir(dir, opts.releases); err != nil {
		return nil, ExportStats{}, err
	}
	store, err := blobstore.Open(blobstore.Options{Dir: dir})
	if err != nil {
		return nil, ExportStats{}, fmt.Errorf("%w: %w", ErrFolderRefused, err)
	}
	defer store.Close()
	if err := prepareDir(dir); err != nil {
		return nil, ExportStats{}, err
	}
	puller, err := pull.New(pull.Options{Store: store, Retries: opts.retries, IdleTimeout: opts.idleTimeout, OutageLimit: outageLimit})
	if err != nil {
		return nil, ExportStats{}, err
	}
	x := &exporter{opts: opts, store: store, puller: puller, seen: map[digest.Digest]bool{}}
	records := make([]ImageRecord, len(images))
	errs := make([]error, len(images))
	trackers := make([]*tracker, len(images))
	failed := func(i int, err error) {
		errs[i] = fmt.Errorf("exporting %s (%s): %w", images[i].Name, images[i].Source, err)
		trackers[i].end(0, errs[i])
	}
	// Every image's manifests first (each is read once either way): the sizes, for
	// ProgressPlanned, before the first blob.
	preps := make([]*prepared, len(images))
	g := new(errgroup.Group)
	g.SetLimit(opts.jobs)
	for i, im := range images {
		trackers[i] = newTracker(opts.progress, im.Name)
		g.Go(func() error {
			// A vendor gone for good (pull.Puller.Unavailable) fails the images not yet
			// read at once, instead of each spending its retries in turn.
			if err := x.puller.Unavailable(); err != nil {
				failed(i, err)
				return nil
			}
			p, err := x.prepare(ctx, im)
			if err != nil {
				failed(i, err)
			}
			preps[i] = p
			return nil
		})
	}
	_ = g.Wait()
	if opts.progress != nil {
		e := ProgressEvent{Kind: ProgressPlanned}
		for _, p := range preps {
			if p != nil {
				e.Images++
				e.Bytes += p.size
			}
		}
		opts.progress(e)
	}
	for i, p := range preps {
		if p == nil {
			continue
		}
		g.Go(func() error {
			if err := x.puller.Unavailable(); err != nil {
				failed(i, err)
				return nil
			}
			rec, err := x.fetch(ctx, p, trackers[i])
			records[i] = rec
			if err != nil {
				failed(i, err)
			} else {
				trackers[i].end(rec.Bytes, nil)
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, x.stats, err
	}
	st := store.Stats()
	x.stats.Reused = st.Reused - st.Evicted
	if err := store.Close(); err != nil {
		return nil, x.stats, err
	}
	m, err := x.finish(dir, images, records)
	return m, x.stats, err
}

func checkImages(images []Image) error {
	names := map[string]bool{}
	for _, im := range images {
		switch {
		case names[im.Name]:
			return fmt.Errorf("bundle: image %s given twice", im.Name)
		case im.Ref == nil:
			return fmt.Errorf("bundle: image %s has no reference to read it from", im.Name)
		}
		if _, err := refNameOK(im.Name); err != nil {
			return err
		}
		if err := im.Digest.Validate(); err != nil {
			return fmt.Errorf("bundle: image %s: %w", im.Name, err)
		}
		names[im.Name] = true
	}
	return nil
}

// checkDir and prepareDir make dir ready for an export: a complete bundle of the same
// releases is resumed (its markers removed first), one of other releases is refused.
// checkDir refuses, without changing anything, a folder that holds a bundle of other
// releases (ErrExists).
func checkDir(dir string, releases []string) error {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err == nil {
		old, perr := parseManifest(b)
		if perr != nil || !slices.Equal(old.Releases, releases) {
			return fmt.Errorf("%w: %s holds a bundle of releases %v; export into an empty folder", ErrExists, dir, releasesOf(old))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return nil
}

// prepareDir removes a previous export's bundle.json and SHA256SUMS from a folder
// checkDir accepted: a folder without them is not a bundle until this export ends.
func prepareDir(dir string) error {
	for _, f := range []string{ManifestFile, SumsFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func releasesOf(m *Manifest) []string {
	if m == nil {
		return nil
	}
	return m.Releases
}

type exporter struct {
	opts   exportOptions
	store  *blobstore.Store
	puller *pull.Puller

	mu    sync.Mutex
	stats ExportStats
	seen  map[digest.Digest]bool // external blobs counted
}

// prepared is an image whose manifests are read (and stored), its blobs not yet.
type prepared struct {
	im   Image
	rec  ImageRecord // manifests in Blobs and Bytes
	have map[digest.Digest]bool
	mans []imgmanifest.Manifest
	size int64 // the image's bytes once every blob is in: rec.Bytes then
}

// prepare reads an image's manifests (the top one and, for an index, every instance's)
// into the store. It closes the source it opened: with hundreds of images, keeping every
// one open until its blobs' turn would hold as many clients and connections; fetch opens
// it again (a new client: a ping, a token where the registry uses tokens, and the
// manifest once more, as a sync's plan and copy do).
func (x *exporter) prepare(ctx context.Context, im Image) (*prepared, error) {
	src, err := x.puller.Wrap(im.Ref).NewImageSource(ctx, x.opts.systemContext)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	p := &prepared{im: im, rec: ImageRecord{Name: im.Name, Source: im.Source, Digest: im.Digest, Attested: im.Attested},
		have: map[digest.Digest]bool{}}
	top, mime, err := x.manifest(ctx, src, nil, im.Digest)
	if err != nil {
		return nil, err
	}
	p.rec.MediaType, p.rec.Size = mime, int64(len(top))
	p.add(Blob{Digest: im.Digest, Size: p.rec.Size, MediaType: mime}, nil)
	type man struct {
		b    []byte
		mime string
	}
	mans := []man{{top, mime}}
	if imgmanifest.MIMETypeIsMultiImage(mime) {
		list, err := imgmanifest.ListFromBlob(top, mime)
		if err != nil {
			return nil, fmt.Errorf("reading the index: %w", err)
		}
		mans = nil
		for _, d := range list.Instances() {
			b, mt, err := x.manifest(ctx, src, &d, d)
			if err != nil {
				return nil, err
			}
			p.add(Blob{Digest: d, Size: int64(len(b)), MediaType: mt}, nil)
			mans = append(mans, man{b, mt})
		}
	}
	p.rec.Platforms = len(mans)
	p.size = p.rec.Bytes
	sized := maps.Clone(p.have)
	for _, m := range mans {
		parsed, err := imgmanifest.FromBlob(m.b, m.mime)
		if err != nil {
			return nil, fmt.Errorf("reading a manifest: %w", err)
		}
		p.mans = append(p.mans, parsed)
		for _, b := range append([]types.BlobInfo{parsed.ConfigInfo()}, blobInfos(parsed.LayerInfos())...) {
			if !sized[b.Digest] {
				sized[b.Digest] = true
				p.size += b.Size
			}
		}
	}
	return p, nil
}

// add records a blob of the image in the layout (once), telling t.
func (p *prepared) add(b Blob, t *tracker) {
	if !p.have[b.Digest] {
		p.have[b.Digest] = true
		p.rec.Blobs = append(p.rec.Blobs, b)
		p.rec.Bytes += b.Size
		t.settle(p.rec.Bytes)
	}
}

// fetch copies a prepared image's blobs into the store, telling t as they arrive.
func (x *exporter) fetch(ctx context.Context, p *prepared, t *tracker) (ImageRecord, error) {
	src, err := x.puller.Wrap(p.im.Ref).NewImageSource(ctx, x.opts.systemContext)
	if err != nil {
		return p.rec, err
	}
	defer src.Close()
	t.start(p.size)
	t.settle(p.rec.Bytes)
	for _, parsed := range p.mans {
		// Layers the previous release carried are left out. Manifests and configs never
		// are: they are small, and copy.Image reads both from the source even when the
		// target holds them.
		cfg := parsed.ConfigInfo()
		if err := x.blob(ctx, src, cfg, t); err != nil {
			return p.rec, err
		}
		p.add(Blob{Digest: cfg.Digest, Size: cfg.Size, MediaType: cfg.MediaType}, t)
		for _, l := range parsed.LayerInfos() {
			info := l.BlobInfo
			b := Blob{Digest: info.Digest, Size: info.Size, MediaType: info.MediaType}
			if x.opts.since != nil && x.opts.since.has(info.Digest) {
				b.External = true
				x.countExternal(b)
			} else if err := x.blob(ctx, src, info, t); err != nil {
				return p.rec, err
			}
			p.add(b, t)
		}
	}
	return p.rec, nil
}

// manifest reads a manifest, checks it is the one asked for and stores it.
func (x *exporter) manifest(ctx context.Context, src types.ImageSource, instance *digest.Digest, want digest.Digest) ([]byte, string, error) {
	b, mime, err := src.GetManifest(ctx, instance)
	if err != nil {
		return nil, "", fmt.Errorf("reading manifest %s: %w", want, err)
	}
	if got := want.Algorithm().FromBytes(b); got != want {
		return nil, "", fmt.Errorf("manifest %s: the source served %s", want, got)
	}
	if mime == "" {
		mime = imgmanifest.GuessMIMEType(b)
	}
	if err := x.store.Put(ctx, want, int64(len(b)), bytes.NewReader(b)); err != nil {
		return nil, "", err
	}
	return b, mime, nil
}

func blobInfos(layers []imgmanifest.LayerInfo) []types.BlobInfo {
	out := make([]types.BlobInfo, len(layers))
	for i, l := range layers {
		out[i] = l.BlobInfo
	}
	return out
}

// blob makes sure the store holds a verified copy of info, telling t of the bytes read.
func (x *exporter) blob(ctx context.Context, src types.ImageSource, info types.BlobInfo, t *tracker) error {
	if err := info.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q: %w", info.Digest, err)
	}
	if rc, _, err := x.store.Open(info.Digest); err == nil { // a reused blob is hashed once here
		rc.Close()
		return nil
	}
	// Begin before fetching: a blob another image is fetching is waited for, not fetched twice.
	w, err := x.store.Begin(ctx, info.Digest, info.Size)
	if errors.Is(err, blobstore.ErrExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storing blob %s: %w", info.Digest, err)
	}
	rc, size, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		w.Abort()
		return fmt.Errorf("reading blob %s: %w", info.Digest, err)
	}
	t.fetching(info.Size)
	_, err = io.Copy(w, t.reader(rc))
	rc.Close()
	if err != nil {
		w.Abort()
		return fmt.Errorf("reading blob %s: %w", info.Digest, err)
	}
	if err := w.Commit(); err != nil {
		return err
	}
	if size < 0 {
		size = info.Size
	}
	x.mu.Lock()
	x.stats.Fetched++
	x.stats.FetchedBytes += size
	x.mu.Unlock()
	return nil
}

func (x *exporter) countExternal(b Blob) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.seen[b.Digest] {
		x.seen[b.Digest] = true
		x.stats.External++
		x.stats.ExternalBytes += b.Size
	}
}

// finish writes index.json, the release folder, the attestations, removes what the
// bundle does not need, and writes bundle.json and SHA256SUMS.
func (x *exporter) finish(dir string, images []Image, records []ImageRecord) (*Manifest, error) {
	idx := ocispec.Index{Versioned: imgspecs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	need := map[string]bool{}
	var external []Blob
	extSeen := map[digest.Digest]bool{}
	for i, rec := range records {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: rec.MediaType, Digest: rec.Digest, Size: rec.Size,
			Annotations: map[string]string{ocispec.AnnotationRefName: images[i].Name, AnnotationSource: images[i].Source},
		})
		for _, b := range rec.Blobs {
			if b.External {
				if !extSeen[b.Digest] {
					extSeen[b.Digest] = true
					external = append(external, b)
				}
				continue
			}
			need[blobPath(b.Digest)] = true
		}
	}
	slices.SortFunc(idx.Manifests, func(a, b ocispec.Descriptor) int {
		return strings.Compare(a.Annotations[ocispec.AnnotationRefName], b.Annotations[ocispec.AnnotationRefName])
	})
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	ib, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, "index.json"), ib); err != nil {
		return nil, err
	}
	files := map[string]FileRecord{}
	// Blobs were verified by the store in this run: their names are their sha256.
	if err := x.prune(dir, need, files); err != nil {
		return nil, err
	}
	if err := x.copyRelease(dir, files); err != nil {
		return nil, err
	}
	att := x.opts.attestations
	if att.Created.IsZero() {
		att.Created = x.opts.now()
	}
	var ab bytes.Buffer
	if err := attest.WriteBundle(&ab, att); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, AttestationsFile), ab.Bytes()); err != nil {
		return nil, err
	}
	for _, p := range []string{ocispec.ImageLayoutFile, "index.json", AttestationsFile} {
		if err := os.Chmod(filepath.Join(dir, p), 0o644); err != nil {
			return nil, err
		}
		rec, err := hashFile(dir, p)
		if err != nil {
			return nil, err
		}
		files[p] = rec
	}
	m := &Manifest{
		Format: FormatVersion, Tool: "tmsync", ToolVersion: x.opts.toolVersion, Created: x.opts.now().UTC().Truncate(time.Second),
		Releases: x.opts.releases, ReleaseSHA256: x.opts.releaseSHA256,
		Attestations: &AttestationRecord{File: AttestationsFile, Occurrences: len(att.Occurrences),
			Fingerprints: x.opts.fingerprints, Address: att.Address},
		Images: records, External: external,
	}
	if m.Releases == nil {
		m.Releases = []string{}
	}
	if s := x.opts.since; s != nil {
		m.Since = &SinceRecord{Releases: s.Releases, ReleaseSHA256: s.ReleaseSHA256, Bundle: s.BundleSHA256}
	}
	for _, f := range files {
		m.Files = append(m.Files, f)
	}
	mb, err := encodeManifest(m)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for p, f := range files {
		sums[p] = f.SHA256
	}
	sb := sha256.Sum256(mb)
	sums[ManifestFile] = hex.EncodeToString(sb[:])
	var sbuf bytes.Buffer
	if err := writeSums(&sbuf, sums); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, ManifestFile), mb); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, SumsFile), sbuf.Bytes()); err != nil {
		return nil, err
	}
	return m, nil
}

// prune removes the blobs the bundle does not need (left by an earlier export into the
// folder) and the store's ingest folder, and records the blobs kept.
func (x *exporter) prune(dir string, need map[string]bool, files map[string]FileRecord) error {
	_ = os.RemoveAll(filepath.Join(dir, "ingest"))
	blobs := filepath.Join(dir, ocispec.ImageBlobsDir)
	return filepath.WalkDir(blobs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !need[rel] {
			return os.Remove(p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Chmod(p, 0o644); err != nil { // the store writes 0600; a bundle is read by others
			return err
		}
		files[rel] = FileRecord{Path: rel, Size: info.Size(), SHA256: filepath.Base(p)}
		return nil
	})
}

// copyRelease copies the release folder's files under release/, checking each against
// the hash tmsync read.
func (x *exporter) copyRelease(dir string, files map[string]FileRecord) error {
	if x.opts.releaseDir == "" {
		return nil
	}
	dst := filepath.Join(dir, ReleaseDir)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	type item struct{ rel, src, want string }
	var items []item
	if x.opts.releaseFiles != nil {
		for _, f := range x.opts.releaseFiles {
			p := f.Path
			if !filepath.IsAbs(p) && !strings.HasPrefix(filepath.Clean(p)+string(filepath.Separator), filepath.Clean(x.opts.releaseDir)+string(filepath.Separator)) {
				p = filepath.Join(x.opts.releaseDir, p)
			}
			rel, err := filepath.Rel(x.opts.releaseDir, p)
			if err != nil || !filepath.IsLocal(rel) || strings.ContainsRune(rel, filepath.Separator) {
				return fmt.Errorf("release file %s is not at the top of %s", f.Path, x.opts.releaseDir)
			}
			items = append(items, item{rel, p, f.SHA256})
		}
	} else {
		ents, err := os.ReadDir(x.opts.releaseDir)
		if err != nil {
			return fmt.Errorf("reading the release folder: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				items = append(items, item{e.Name(), filepath.Join(x.opts.releaseDir, e.Name()), ""})
			}
		}
	}
	for _, it := range items {
		rec, err := copyHashed(it.src, filepath.Join(dst, it.rel))
		if err != nil {
			return fmt.Errorf("copying release file %s: %w", it.src, err)
		}
		if it.want != "" && rec.SHA256 != it.want {
			return fmt.Errorf("release file %s changed since it was read (sha256 %s, read as %s)", it.src, rec.SHA256, it.want)
		}
		rec.Path = ReleaseDir + "/" + filepath.ToSlash(it.rel)
		files[rec.Path] = rec
	}
	return nil
}

func copyHashed(src, dst string) (FileRecord, error) {
	in, err := os.Open(src)
	if err != nil {
		return FileRecord{}, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return FileRecord{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return FileRecord{}, err
	}
	return FileRecord{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func hashFile(dir, rel string) (FileRecord, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return FileRecord{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileRecord{}, fmt.Errorf("reading %s: %w", rel, err)
	}
	return FileRecord{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
