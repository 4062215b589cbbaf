package tmsync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// Exporter writes verified releases into air-gapped bundles (package bundle): the run of
// `tmsync export`. It reads the release, resolves and verifies every image's attestation
// exactly as Sync does (the same steps, the same BYO policy, the same report), and
// writes the images that passed, with the release folder and the attestations that
// verified them, into a bundle. There is no target.
type Exporter struct {
	e *Engine
}

// NewExporter returns an Exporter verifying with attestor. It takes the Engine's options
// (WithSource, WithConcurrency, WithBYOPolicy, WithReleaseSHA256, WithLogger, ...);
// the target's (WithShard, WithScanGate) have no use and WithScanGate is refused.
// attestor should be a *VendorAttestor (or have its Bundle method): the occurrences
// that verified the images are written into the bundle for the offline import.
func NewExporter(attestor Attestor, opts ...Option) (*Exporter, error) {
	e, err := New(exportTarget{}, attestor, opts...)
	if err != nil {
		return nil, err
	}
	return &Exporter{e: e}, nil
}

// Export verifies rel and writes the images that passed into the bundle folder dir
// (created if missing; a rerun after an interruption keeps the blobs already there).
// opts go to bundle.Export after the Exporter's own (release, attestations, tool
// version, source system contexts, jobs): bundle.WithSince makes an incremental bundle.
//
// The Report is a sync's, mode "export": an exported image is "copied" (into the
// bundle), a refused one "rejected", as Sync reports them, and left out of the bundle.
// The error, a *StartError, says the run could not start. When writing the bundle fails
// (a fetch, the disk), no bundle.json is written (the folder is not a bundle, and a rerun
// completes it): every image still on its way is then failed, and the Manifest is nil.
func (x *Exporter) Export(ctx context.Context, rel Release, dir string, opts ...bundle.ExportOption) (*Report, *bundle.Manifest, error) {
	e := x.e
	r := &run{Engine: e, o: &e.opts, mode: ModeExport, rel: rel, export: &exportRun{dir: dir, opts: opts}}
	rep, err := r.run(ctx)
	if rep != nil {
		rep.Target = "bundle " + dir
		rep.Clean(e.opts.redactor)
		for i := range rep.Images {
			rep.Images[i].err = e.opts.redactor.CleanError(rep.Images[i].err)
		}
	}
	return rep, r.export.manifest, e.opts.redactor.CleanError(err)
}

// exportRun is what an export run adds to a run.
type exportRun struct {
	dir      string
	opts     []bundle.ExportOption
	folder   *manifest.Folder
	manifest *bundle.Manifest
}

// bundler is what an Attestor needs for its occurrences to go into a bundle
// (*VendorAttestor has it).
type bundler interface {
	Occurrences() []attest.Occurrence
}

// exportAll writes every image still on its way (resolved and verified) into the bundle.
//
// Events follow bundle.Export (bundle.WithProgress): EventPlanned once every image's
// manifests are read (the images and their bytes, for the ETA); then for each image
// EventStart when its blobs start (with its size), EventProgress as they reach the
// layout, EventDone when they all have ("into the bundle"). The report's outcome waits
// for the bundle: when Export then fails (another image, the disk), an image already
// announced done is failed ("the bundle was not written") with an EventError, the event
// of a failure found after an image's DONE line (a second EventFail would count the
// image twice); an image that fails itself gets its EventFail at once.
func (r *run) exportAll(ctx context.Context) error {
	x := r.export
	todo := r.pending()
	if len(todo) == 0 {
		return nil
	}
	images := make([]bundle.Image, 0, len(todo))
	states := make(map[string]*exportState, len(todo)) // read-only once Export runs
	fps := map[string]bool{}
	for _, it := range todo {
		ref, err := sourceReference(it.src, it.dgst)
		if err != nil {
			it.fail("export", OutcomeFailed, err)
			r.event(EventFail, it, it.rec.Reason)
			continue
		}
		src := it.img.Source
		src.Digest = it.dgst
		images = append(images, bundle.Image{Name: it.img.Dest.String(), Source: src.String(), Digest: it.dgst,
			Ref: sysRef{ImageReference: ref, sys: r.sourceSys(it.src.Registry)}, Attested: it.rec.Attestation != nil})
		states[it.img.Dest.String()] = &exportState{it: it}
		if it.rec.Attestation != nil {
			fps[it.rec.Attestation.Fingerprint] = true
		}
	}
	var occs []attest.Occurrence
	if b, ok := r.attestor.(bundler); ok {
		occs = b.Occurrences()
	} else if len(fps) > 0 {
		return startErr("exporting", fmt.Errorf("attestor %T cannot give its occurrences for the bundle", r.attestor))
	}
	// Stable: two occurrences of one name keep the attestor's order (Occurrences: by content).
	sort.SliceStable(occs, func(i, j int) bool { return occs[i].Name < occs[j].Name })
	var fingerprints []string
	for fp := range fps {
		fingerprints = append(fingerprints, fp)
	}
	sort.Strings(fingerprints)
	var versions []string
	var files []manifest.File
	for _, rel := range x.folder.Releases {
		versions = append(versions, rel.Version)
		files = append(files, rel.Files...)
	}
	opts := append([]bundle.ExportOption{
		bundle.WithRelease(x.folder.Dir, files), bundle.WithReleases(versions...),
		bundle.WithReleaseSHA256(r.rep.ReleaseSHA256),
		bundle.WithAttestations(attest.Bundle{Version: 1, Created: r.o.clock().UTC(), Occurrences: occs}, fingerprints...),
		bundle.WithToolVersion(Version), bundle.WithJobs(r.o.concurrency), bundle.WithClock(r.o.clock),
	}, x.opts...)
	opts = append(opts, bundle.WithProgress(func(e bundle.ProgressEvent) { r.exportProgress(ctx, states[e.Image], e) }))
	m, _, err := bundle.Export(ctx, x.dir, images, opts...)
	if errors.Is(err, bundle.ErrFolderRefused) {
		// Nothing was fetched or written: the run did not start.
		return startErr("opening the bundle folder", err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // reported as interrupted
		}
		for _, it := range todo {
			if it.done {
				continue
			}
			// An image whose own export failed has its outcome already (ProgressFail);
			// these are the others: the bundle is not written because of those.
			it.fail("export", OutcomeFailed, fmt.Errorf("%s: the bundle was not written (rerun to complete it): %w", it.img.Dest, err))
			if st := states[it.img.Dest.String()]; st != nil && st.in {
				r.event(EventError, it, it.rec.Reason)
			} else {
				r.failEvent(it, st != nil && st.started)
			}
		}
		return nil
	}
	x.manifest = m
	bytes := map[string]int64{}
	for _, im := range m.Images {
		bytes[im.Name] = im.Bytes
	}
	for _, it := range todo {
		if it.done {
			continue
		}
		st := states[it.img.Dest.String()]
		it.rec.Outcome, it.rec.Bytes, it.rec.Attempts, it.rec.Seconds = OutcomeCopied, bytes[it.img.Dest.String()], 1, st.secs
		it.rec.Destination = "bundle " + x.dir + " " + it.img.Dest.String()
		it.done = true
		if !st.in { // not announced: cannot happen when Export succeeds, but never leave an image silent
			r.event(EventDone, it, doneMessage(it))
		}
	}
	return nil
}

// exportState is what exportAll knows of an image while bundle.Export writes it. Only
// the goroutine writing that image touches it, until Export returns.
type exportState struct {
	it      *item
	started bool      // EventStart sent
	in      bool      // its blobs are in the layout, EventDone sent
	began   time.Time // when it started
	secs    float64   // from its start to its blobs in
}

// exportProgress turns one of bundle.Export's progress events into the run's events.
func (r *run) exportProgress(ctx context.Context, st *exportState, e bundle.ProgressEvent) {
	if e.Kind == bundle.ProgressPlanned {
		r.o.observer.Event(Event{Kind: EventPlanned, Total: e.Images, Bytes: e.Bytes})
		return
	}
	if st == nil {
		return
	}
	it := st.it
	name := it.img.Dest.String()
	switch e.Kind {
	case bundle.ProgressStart:
		st.started, st.began, it.size = true, r.o.clock(), e.Bytes
		msg := "START: " + name + " into " + r.export.dir
		r.o.observer.Event(Event{Kind: EventStart, Image: name, Message: msg, Bytes: e.Bytes})
		r.o.logger.Info(msg, "image", name)
	case bundle.ProgressBytes:
		if e.Bytes > it.shown {
			it.shown = e.Bytes
			r.o.observer.Event(Event{Kind: EventProgress, Image: name, Bytes: e.Bytes})
		}
	case bundle.ProgressDone:
		st.in, st.secs = true, since(st.began, r.o.clock)
		it.rec.Bytes = e.Bytes
		r.event(EventDone, it, doneMessage(it))
	case bundle.ProgressFail:
		if ctx.Err() != nil {
			return // reported as interrupted
		}
		it.fail("export", OutcomeFailed, fmt.Errorf("%s: the bundle was not written (rerun to complete it): %w", it.img.Dest, e.Err))
		r.failEvent(it, st.started)
	}
}

func doneMessage(it *item) string {
	return fmt.Sprintf("DONE: %s %s (%s) into the bundle", it.img.Dest, it.dgst, HumanBytes(it.rec.Bytes))
}

// sysRef opens its image with its own system context, whatever the caller passes: each
// image of an export is read with the credentials of its own registry (the vendor token
// only for the vendor registry).
type sysRef struct {
	types.ImageReference
	sys *types.SystemContext
}

func (s sysRef) NewImageSource(ctx context.Context, _ *types.SystemContext) (types.ImageSource, error) {
	return s.ImageReference.NewImageSource(ctx, s.sys)
}

func (s sysRef) NewImage(ctx context.Context, _ *types.SystemContext) (types.ImageCloser, error) {
	return s.ImageReference.NewImage(ctx, s.sys)
}

// exportTarget is an export's target: none. Destinations are checked as names only.
type exportTarget struct{}

func (exportTarget) String() string { return "bundle" }

func (exportTarget) RepositoryName(dest string) (string, error) {
	if dest == "" || strings.ContainsAny(dest, ": @") {
		return "", fmt.Errorf("destination repository %q is not a repository name", dest)
	}
	return dest, nil
}

var errNoTarget = errors.New("an export has no target")

func (exportTarget) Ensure(context.Context, string, bool) (*Repository, error) {
	return nil, errNoTarget
}
func (exportTarget) Existing(context.Context, string, []string) (map[string]digest.Digest, error) {
	return nil, errNoTarget
}
func (exportTarget) Reference(context.Context, string, string) (types.ImageReference, *types.SystemContext, error) {
	return nil, nil, errNoTarget
}

// Previous lists the blobs of the images of a previous release folder, for an
// incremental export (bundle.WithSince) when the previous release was not exported as a
// bundle. It reads the images' manifests from their registries (no layer is fetched),
// each with its own registry's credentials, as Export reads them; an unpinned image is
// resolved by its tag.
func (x *Exporter) Previous(ctx context.Context, rel Release) (*bundle.Previous, error) {
	folder, err := rel.load()
	if err != nil {
		return nil, startErr("reading the previous release folder "+rel.String(), err)
	}
	r := &run{Engine: x.e, o: &x.e.opts, vendor: vendorRegistry(x.e.opts.source.Registry, folder)}
	var versions []string
	var records []ReleaseRecord
	for _, rl := range folder.Releases {
		versions = append(versions, rl.Version)
		rr := ReleaseRecord{Version: rl.Version}
		for _, f := range rl.Files {
			rr.Files = append(rr.Files, FileRecord{Path: f.Path, SHA256: f.SHA256})
		}
		records = append(records, rr)
	}
	var refs []types.ImageReference
	for _, img := range folder.Images() {
		_, src := r.vendorSource(img)
		d := src.Digest
		if d == "" {
			if d, err = r.sourceDigest(ctx, src); err != nil {
				return nil, startErr("resolving "+img.Source.Pullable()+" of the previous release", err)
			}
		}
		ref, err := sourceReference(src, d)
		if err != nil {
			return nil, startErr("reading the previous release", err)
		}
		refs = append(refs, sysRef{ImageReference: ref, sys: r.sourceSys(src.Registry)})
	}
	prev, err := bundle.PreviousFromImages(ctx, versions, ReleaseDigest(folder.Dir, records), refs, nil)
	if err != nil {
		return nil, startErr("reading the previous release", x.e.opts.redactor.CleanError(err))
	}
	return prev, nil
}
