package tmsync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
)

// Engine syncs releases into one target, verifying each image with one attestor. It is
// immutable once made: several runs, of the same release or of different ones, may use
// it at once from several goroutines. Runs share its blob semaphore
// (WithBlobConcurrency), so that parallel runs share the bandwidth too.
type Engine struct {
	opts     options
	target   Target
	attestor Attestor
	// blobs bounds the blobs moving at once across all images of all runs, so that
	// parallel images share the bandwidth instead of multiplying it.
	blobs *semaphore.Weighted
}

// New returns an Engine that copies into target what attestor verifies. It checks the
// options and reports every problem at once, as a *StartError; releases are read by
// each run.
func New(target Target, attestor Attestor, opts ...Option) (*Engine, error) {
	o, err := newOptions(target, attestor, opts)
	if err != nil {
		return nil, startErr("checking options", err)
	}
	return &Engine{opts: *o, target: target, attestor: attestor, blobs: semaphore.NewWeighted(int64(o.blobConcurrency))}, nil
}

// Plan says what Sync would do with rel, changing nothing.
func (e *Engine) Plan(ctx context.Context, rel Release) (*Report, error) {
	return e.Run(ctx, ModePlan, rel)
}

// Sync verifies, provisions and copies rel.
func (e *Engine) Sync(ctx context.Context, rel Release) (*Report, error) {
	return e.Run(ctx, ModeSync, rel)
}

// Verify checks the target against rel without copying.
func (e *Engine) Verify(ctx context.Context, rel Release) (*Report, error) {
	return e.Run(ctx, ModeVerify, rel)
}

// Run runs one mode over rel. The Report says what happened to every image; the error,
// a *StartError, says why the run could not start (an unknown mode, a bad release
// folder, attestations that could not be fetched). The report and the error have passed
// through the engine's Redactor: whatever a registry or the attestation server put in an
// error, the caller gets it cleaned.
func (e *Engine) Run(ctx context.Context, mode Mode, rel Release) (*Report, error) {
	if !mode.Valid() {
		return nil, startErr("checking the mode", fmt.Errorf("mode %q: want %s, %s or %s", string(mode), ModePlan, ModeSync, ModeVerify))
	}
	r := &run{Engine: e, o: &e.opts, mode: mode, rel: rel}
	rep, err := r.run(ctx)
	if rep != nil {
		rep.Clean(e.opts.redactor)
		for i := range rep.Images {
			rep.Images[i].err = e.opts.redactor.CleanError(rep.Images[i].err)
		}
	}
	return rep, e.opts.redactor.CleanError(err)
}

// run is one run: its mode, release, items and report. Nothing of it outlives Run.
type run struct {
	*Engine
	o    *options
	mode Mode
	rel  Release
	// vendor is the vendor registry of the run (Source.Registry, else the release's).
	vendor string
	items  []*item
	rep    *Report
	// cacheDir is the run's blob info cache (see newRunCache).
	cacheDir string
	// export is set on an Exporter's run (ModeExport).
	export *exportRun
	// dp is the run's blob store, puller and copy plan (sync only).
	dp *dataPath
	// store is the kept store (WithCacheDir), opened and locked by openStore at the
	// start of a sync; closed by closeDataPath, or at the end of run when no copy ran.
	store *blobstore.Store
	// ev is what the images' evidence shares; evPipe (sync) runs it as outcomes become
	// known, with evCtx, the run's context.
	ev     *evidenceRun
	evPipe *evidencePipe
	evCtx  context.Context
	// down is the source's outage once the puller reported it (sourceDown): every image
	// failed for it carries the same error, not each its own "no answer for …" time.
	downMu sync.Mutex
	down   error
	// watches cuts the copies whose target has gone quiet (made by copyAll).
	watches *copyWatches
}

// item is one image on its way through a run.
type item struct {
	img manifest.Image
	// src is where the image is pulled from and what its attestation names: the
	// release's source, but on the vendor registry as --srcdomain spells it (see
	// vendorSource).
	src  manifest.Source
	repo string        // target repository name
	dgst digest.Digest // the digest to copy: pinned, or resolved from the tag
	rec  *ImageRecord
	done bool // an outcome is final
	// size is the bytes of the image's blobs (planCopies; 0 when unknown); shown the
	// bytes last sent in an EventProgress, which never go down from one try to the next.
	size, shown int64
}

func (it *item) fail(step string, outcome Outcome, err error) {
	it.failRec(step, outcome, err)
	it.done = true
}

// failRec records a failure in the image's record only: for an image whose outcome was
// already final (its evidence failed), done stays as it is, since the run's other
// goroutines read done meanwhile (pending).
func (it *item) failRec(step string, outcome Outcome, err error) {
	it.rec.Outcome, it.rec.Step, it.rec.Reason, it.rec.err = outcome, step, err.Error(), err
	it.rec.Cause = ClassifyError(err)
}

func (r *run) run(ctx context.Context) (*Report, error) {
	o := r.o
	rep := &Report{SchemaVersion: ReportSchemaVersion, Tool: "tmsync", Version: Version, Mode: r.mode,
		Started: o.clock().UTC(), Target: r.target.String()}
	r.rep = rep
	defer r.closeStore()
	if o.shardCount > 1 {
		rep.Shard = &Shard{Index: o.shardIndex, Count: o.shardCount}
	}
	folder, err := r.rel.load()
	if err != nil {
		return nil, startErr("reading release folder "+r.rel.String(), err)
	}
	r.vendor = vendorRegistry(o.source.Registry, folder)
	if err := r.readItems(folder); err != nil {
		return nil, err
	}
	items := r.items
	o.logger.Info("release read", "dir", folder.Dir, "images", len(items), "mode", string(r.mode))
	r.warnSystemOverrides()
	if err := r.checkReleasePin(folder.Dir); err != nil {
		return nil, err
	}
	o.observer.Event(Event{Kind: EventBegin, Total: len(items),
		Message: fmt.Sprintf("%s: %d images from %s to %s", r.mode, len(items), folder.Dir, r.target)})

	steps := []func(context.Context) error{r.resolve, r.attest, r.repositories, r.existing}
	switch r.mode {
	case ModeSync:
		// The kept store first: a folder that is not a store, or one another run is
		// using, stops the run before anything is created.
		steps = append([]func(context.Context) error{r.openStore}, steps...)
		steps = append(steps, r.readBlobMounting, r.copyAll)
	case ModePlan:
		steps = append(steps, r.readBlobMounting, r.planTransfer)
	}
	if r.mode == ModeExport {
		r.export.folder = folder
		steps = []func(context.Context) error{r.resolve, r.attest, r.exportAll}
	}
	steps = append(steps, r.evidenceStep)
	r.startEvidence(ctx)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			if ctx.Err() != nil {
				break // interrupted, not a failure to start: report what was done
			}
			r.waitEvidence()
			return nil, err
		}
	}
	r.waitEvidence() // after an interruption, the evidence step did not run
	for _, it := range items {
		if it.done {
			continue
		}
		switch {
		case ctx.Err() != nil && (r.mode == ModeSync || r.mode == ModeExport):
			it.fail("copy", OutcomeFailed, errNotStarted)
		case ctx.Err() != nil:
			it.fail(string(r.mode), OutcomeFailed, errNotStarted)
		case r.mode == ModePlan:
			it.rec.Outcome = OutcomePlanned
		case r.mode == ModeVerify:
			it.fail("verify", OutcomeFailed, fmt.Errorf("%s:%s is missing from the target", it.repo, it.img.Dest.Tag))
			r.event(EventFail, it, it.rec.Reason)
		default:
			// A sync leaves no image without an outcome: copyAll gives each one.
			it.fail("copy", OutcomeFailed, errors.New("not copied"))
		}
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	rep.summarize()
	if r.mode != ModePlan && o.scanWait > 0 {
		r.scanGate(ctx)
		rep.summarize()
	}
	rep.Finished = o.clock().UTC()
	return rep, nil
}

// vendorRegistry is the run's vendor registry: the one configured, else the host the
// folder's vendor images name, else the default.
func vendorRegistry(configured string, folder *manifest.Folder) string {
	if configured != "" {
		return configured
	}
	for _, img := range folder.Images() {
		if img.Vendor {
			return tidyHost(img.Source.Registry)
		}
	}
	return manifest.DefaultVendorRegistry
}

// readItems turns the folder into the run's items, in the report's order. Destinations
// that cannot form a repository name stop the run before anything happens.
func (r *run) readItems(folder *manifest.Folder) error {
	rep := r.rep
	var items []*item
	var bad []error
	for _, rel := range folder.Releases {
		rr := ReleaseRecord{Version: rel.Version}
		for _, f := range rel.Files {
			rr.Files = append(rr.Files, FileRecord{Path: f.Path, SHA256: f.SHA256})
		}
		rep.Releases = append(rep.Releases, rr)
		for _, ig := range rel.Ignored {
			repo, err := r.target.RepositoryName(ig.Image.Dest.Repository)
			if err == nil && !r.inShard(repo) {
				continue
			}
			rec := newRecord(ig.Image)
			rec.Outcome, rec.Reason = OutcomeIgnored, ig.Reason
			rep.Images = append(rep.Images, *rec)
		}
		for _, img := range rel.Images {
			repo, err := r.target.RepositoryName(img.Dest.Repository)
			if err != nil {
				bad = append(bad, fmt.Errorf("%s: %w", img.Origin, err))
				continue
			}
			if !r.inShard(repo) {
				continue
			}
			img, src := r.vendorSource(img)
			items = append(items, &item{img: img, src: src, repo: repo, dgst: img.Source.Digest, rec: newRecord(img)})
		}
	}
	if len(bad) > 0 {
		return startErr("checking destinations", errors.Join(bad...))
	}
	// The report lists images in the order they were read; the records are pointers into
	// it, so every step writes the report directly.
	base := len(rep.Images)
	for _, it := range items {
		rep.Images = append(rep.Images, *it.rec)
	}
	for i, it := range items {
		rep.Images[base+i].Repository = it.repo
		it.rec = &rep.Images[base+i]
	}
	r.items = items
	return nil
}

func newRecord(img manifest.Image) *ImageRecord {
	return &ImageRecord{Dest: img.Dest.String(), Source: img.Source.String(), Version: img.Version,
		Origin: img.Origin.String(), Vendor: img.Vendor, Digest: img.Source.Digest.String()}
}

// inShard reports whether repo belongs to this engine's shard. Sharding by repository
// means one shard owns each repository: no two shards create it, set its policies or
// push its immutable tags.
func (e *Engine) inShard(repo string) bool {
	if e.opts.shardCount <= 1 {
		return true
	}
	return ShardOf(repo, e.opts.shardCount) == e.opts.shardIndex
}

// ShardOf returns the shard, of count, that owns a repository.
func ShardOf(repo string, count int) int {
	h := fnv.New32a()
	h.Write([]byte(repo))
	return int(h.Sum32() % uint32(count))
}

// pending returns the items that have no final outcome yet.
func (r *run) pending() []*item {
	var out []*item
	for _, it := range r.items {
		if !it.done {
			out = append(out, it)
		}
	}
	return out
}

// forEach runs fn for every item, limit at a time, and waits.
func forEach(ctx context.Context, items []*item, limit int, fn func(context.Context, *item)) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			// Go waits for a free slot: the run may have been cancelled meanwhile. An
			// image not started is left to be reported as interrupted.
			if ctx.Err() != nil {
				return nil
			}
			fn(ctx, it)
			return nil
		})
	}
	_ = g.Wait()
}

// resolve finds the digest of images the release does not pin (v4 lists), by tag.
func (r *run) resolve(ctx context.Context) error {
	var unpinned []*item
	for _, it := range r.pending() {
		if it.dgst == "" {
			unpinned = append(unpinned, it)
		}
	}
	forEach(ctx, unpinned, r.o.concurrency, func(ctx context.Context, it *item) {
		var d digest.Digest
		err := r.retry(ctx, it, "resolving "+it.img.Source.Pullable(), func(int) (err error) {
			d, err = r.resolveDigest(ctx, it)
			return err
		})
		if err != nil {
			it.fail("resolve", OutcomeFailed, fmt.Errorf("resolving %s: %w", it.img.Source.Pullable(), err))
			return
		}
		it.dgst = d
		it.rec.Digest = d.String()
		r.event(EventInfo, it, "resolved "+it.img.Source.Pullable()+" to "+d.String())
	})
	return nil
}

// attest verifies every image's attestation before a single byte moves.
func (r *run) attest(ctx context.Context) error {
	todo := r.pending()
	if len(todo) == 0 {
		return nil
	}
	subjects := make([]attest.Subject, 0, len(todo))
	for _, it := range todo {
		subjects = append(subjects, attest.Subject{Repository: it.src.Name(), Digest: it.dgst})
	}
	if err := r.attestor.Prepare(ctx, subjects); err != nil {
		return startErr("fetching attestations", err)
	}
	atts := make([]*Attestation, len(todo))
	errs := make([]error, len(todo))
	for i := range todo {
		atts[i], errs[i] = r.attestor.Verify(ctx, subjects[i])
	}
	if err := wrongAttestorKey(todo, errs); err != nil {
		return startErr("verifying attestations", err)
	}
	for i, it := range todo {
		att, err := atts[i], errs[i]
		switch {
		case err == nil:
			it.rec.Attestation = att
		case errors.Is(err, attest.ErrNoAttestation) && !it.img.Vendor && r.o.byoPolicy == BYOPinned && it.img.Pinned():
			// An upstream image the vendor does not attest: the release pins its digest,
			// and the copy is by that digest, so what arrives is what the release names.
			it.rec.AttestationNote = "not attested: upstream image copied by the digest the release pins (--byo-policy=pinned)"
			r.event(EventWarn, it, it.rec.AttestationNote)
		case errors.As(err, new(*attest.UnavailableError)):
			it.fail("attestation", OutcomeFailed, err)
		default:
			it.fail("attestation", OutcomeRejected, err)
		}
		if it.done {
			r.event(EventFail, it, it.rec.Reason)
		}
	}
	return nil
}

// wrongAttestorKey is the run's error when every vendor image's attestation was refused
// only because its signer is not in the attestor keyring: the key given is not the
// vendor's (an old one, another file), and every image would be refused for that one
// reason, each on its own line. Said once, with the signers' key ids, as a problem of the
// run's input. One vendor image verified (a key rotation under way), or refused for any
// other reason, leaves the verdicts to each image. nil when there is no vendor image.
func wrongAttestorKey(todo []*item, errs []error) error {
	keyIDs := map[string]bool{}
	vendor := 0
	for i, it := range todo {
		if !it.img.Vendor {
			continue
		}
		vendor++
		var rej *attest.RejectedError
		if !errors.As(errs[i], &rej) || rej.NoAttestation || len(rej.Reasons) == 0 {
			return nil
		}
		for _, re := range rej.Reasons {
			if !errors.Is(re.Err, attest.ErrUnknownKey) {
				return nil
			}
			// The key id, when the signature names one.
			if re.KeyID != "" {
				keyIDs["key id "+re.KeyID] = true
			}
		}
	}
	if vendor == 0 {
		return nil
	}
	said := slices.Sorted(maps.Keys(keyIDs))
	if len(said) > 3 {
		said = append(said[:3], fmt.Sprintf("and %d more", len(said)-3))
	}
	ids := ""
	if len(said) > 0 {
		ids = " (" + strings.Join(said, "; ") + ")"
	}
	return fmt.Errorf("%w: the attestations of all %d vendor images are signed by a key that is not in the attestor keyring%s: check that --src_attestor is the vendor's current attestor public key (and --src-attestor-fingerprint, when given, its fingerprint)",
		ErrWrongAttestorKey, vendor, ids)
}

// repositories ensures (or, for plan and verify, checks) every target repository that an
// image still on its way needs, once each.
func (r *run) repositories(ctx context.Context) error {
	byRepo := map[string][]*item{}
	var names []string
	for _, it := range r.pending() {
		if _, ok := byRepo[it.repo]; !ok {
			names = append(names, it.repo)
		}
		byRepo[it.repo] = append(byRepo[it.repo], it)
	}
	sort.Strings(names)
	results := make([]*Repository, len(names))
	errs := make([]error, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.lookupConcurrency)
	for i, name := range names {
		g.Go(func() error {
			results[i], errs[i] = r.target.Ensure(gctx, name, r.mode != ModeSync)
			return nil
		})
	}
	_ = g.Wait()
	for i, name := range names {
		res, err := results[i], errs[i]
		if err == nil && len(res.Drift) > 0 {
			err = fmt.Errorf("repository %s differs from what was asked and cannot be changed: %s", name, strings.Join(res.Drift, "; "))
		}
		if err == nil && r.mode == ModeVerify && (res.Created || len(res.Changes) > 0) {
			err = fmt.Errorf("repository %s is not as asked: %s", name, describeChanges(res))
		}
		if res != nil {
			r.rep.Repositories = append(r.rep.Repositories, *res)
		}
		if err != nil {
			for _, it := range byRepo[name] {
				it.fail("repository", OutcomeFailed, err)
				r.event(EventFail, it, it.rec.Reason)
			}
		}
	}
	return nil
}

func describeChanges(r *Repository) string {
	if r.Created {
		return "it does not exist"
	}
	return strings.Join(r.Changes, "; ")
}

// existing looks up what the target already holds: a tag with the release's digest is
// skipped; a tag with another digest is an error for that image.
func (r *run) existing(ctx context.Context) error {
	byRepo := map[string][]*item{}
	for _, it := range r.pending() {
		byRepo[it.repo] = append(byRepo[it.repo], it)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.lookupConcurrency)
	for repo, its := range byRepo {
		g.Go(func() error {
			tags := make([]string, len(its))
			for i, it := range its {
				tags[i] = it.img.Dest.Tag
			}
			var found map[string]digest.Digest
			err := r.retry(gctx, nil, "looking up tags in "+repo, func(int) (err error) {
				found, err = r.target.Existing(gctx, repo, tags)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			for _, it := range its {
				if err != nil && ctx.Err() != nil {
					// Cut by the interruption, not failed: left to the run's end, which
					// says "not started" for it as for every image it never reached.
					continue
				}
				if err != nil {
					it.fail("lookup", OutcomeFailed, fmt.Errorf("looking up tags in %s: %w", repo, err))
					continue
				}
				have, ok := found[it.img.Dest.Tag]
				if ok {
					// The report names the destination of an image found in the target
					// (a copied one gets it from its copy): it is evidence too.
					if ref, _, err := r.target.Reference(gctx, it.repo, it.img.Dest.Tag); err == nil {
						it.rec.Destination = ref.DockerReference().String()
					}
				}
				switch {
				case !ok:
				case have == it.dgst:
					it.rec.Outcome = OutcomePresent
					it.done = true
					r.event(EventSkip, it, "already present with digest "+have.String())
					r.evidenceNow(it)
				default:
					it.fail("lookup", OutcomeFailed, fmt.Errorf("%w: %s:%s is %s in the target, the release says %s",
						ErrTagConflict, repo, it.img.Dest.Tag, have, it.dgst))
					r.event(EventFail, it, it.rec.Reason)
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	if r.mode == ModeVerify {
		// One manifest read per present image: worth it for the audit of a verify, not
		// on every re-sync, which must stay a few requests per image.
		r.recordChildren(ctx)
	}
	return nil
}

// retry runs op, and runs it again while it fails for a temporary reason (Retryable),
// at most the engine's retries more times, waiting the backoff, doubled each time. A
// target whose credentials expire (a CredentialInvalidator: ECR) is asked for fresh ones
// once after a refused credential, which is otherwise permanent (a wrong vendor token
// stays wrong); which side refused is not told apart: it costs one try. what names the
// step in the retry event; "" names the attempt.
func (r *run) retry(ctx context.Context, it *item, what string, op func(attempt int) error) error {
	backoff := r.o.retryBackoff
	renewed := false
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil || ctx.Err() != nil || attempt > r.o.retries {
			return err
		}
		if unauthorized(err) {
			inv, ok := r.target.(CredentialInvalidator)
			if !ok || renewed {
				return err
			}
			inv.InvalidateCredentials()
			renewed = true
		} else if !Retryable(err) {
			return err
		}
		step := what
		if step == "" {
			step = fmt.Sprintf("attempt %d", attempt)
		}
		msg := fmt.Sprintf("%s failed, retrying in %s: %v", step, backoff, err)
		img := "" // a step of the run (the tag lookups of a repository) has no image
		if it != nil {
			img = it.img.Dest.String()
		}
		r.o.observer.Event(Event{Kind: EventRetry, Image: img, Message: msg, Cause: ClassifyError(err)})
		r.o.logger.Warn(msg, "image", img)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// failEvent sends the EventFail of it (its reason, step and cause; running: it had
// started) and logs it.
func (r *run) failEvent(it *item, running bool) {
	r.o.observer.Event(Event{Kind: EventFail, Image: it.img.Dest.String(), Message: it.rec.Reason, Running: running,
		Step: it.rec.Step, Cause: it.rec.Cause})
	r.o.logger.Error(it.rec.Reason, "image", it.img.Dest.String())
}

func (r *run) event(kind EventKind, it *item, msg string) {
	e := Event{Kind: kind, Message: msg}
	if it != nil {
		e.Image = it.img.Dest.String()
		if kind == EventFail {
			e.Step, e.Cause = it.rec.Step, it.rec.Cause
		}
	}
	img := e.Image
	r.o.observer.Event(e)
	switch kind {
	case EventFail, EventError:
		r.o.logger.Error(msg, "image", img)
	case EventWarn, EventRetry:
		r.o.logger.Warn(msg, "image", img)
	default:
		r.o.logger.Info(msg, "image", img)
	}
}

func since(t time.Time, now func() time.Time) float64 { return now().Sub(t).Seconds() }
