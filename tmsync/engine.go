package tmsync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/tmsync/tmsync/manifest"
)

// Engine is the Syncer: one release folder, one target. It runs one job at a time.
type Engine struct {
	opts Options
	// blobs is shared by every copy of the run: it bounds the blobs moving at once across
	// all images, so that parallel images share the bandwidth instead of multiplying it.
	blobs *semaphore.Weighted
	// cacheDir is the blob info cache of the run in progress (see newRunCache).
	cacheDir string
}

var _ Syncer = (*Engine)(nil)

// New returns an Engine. It checks the options; the release folder is read by each run.
func New(opts Options) (*Engine, error) {
	if err := opts.defaults(); err != nil {
		return nil, startErr("checking options", err)
	}
	return &Engine{opts: opts, blobs: semaphore.NewWeighted(int64(opts.BlobConcurrency))}, nil
}

// Modes of a run.
const (
	ModePlan   = "plan"
	ModeSync   = "sync"
	ModeVerify = "verify"
)

// Plan implements Syncer.
func (e *Engine) Plan(ctx context.Context) (*Report, error) { return e.cleanRun(ctx, ModePlan) }

// Sync implements Syncer.
func (e *Engine) Sync(ctx context.Context) (*Report, error) {
	if e.opts.DryRun {
		return e.cleanRun(ctx, ModePlan)
	}
	return e.cleanRun(ctx, ModeSync)
}

// Verify implements Syncer.
func (e *Engine) Verify(ctx context.Context) (*Report, error) { return e.cleanRun(ctx, ModeVerify) }

// cleanRun is run with its report and its error passed through the Redactor: whatever a
// registry or the attestation server put in an error, the caller gets it cleaned.
func (e *Engine) cleanRun(ctx context.Context, mode string) (*Report, error) {
	rep, err := e.run(ctx, mode)
	if rep != nil {
		rep.Clean(e.opts.Redactor)
	}
	return rep, e.opts.Redactor.CleanError(err)
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
}

func (it *item) fail(step string, outcome string, err error) {
	it.rec.Outcome, it.rec.Step, it.rec.Reason = outcome, step, err.Error()
	it.done = true
}

func (e *Engine) run(ctx context.Context, mode string) (*Report, error) {
	o := &e.opts
	rep := &Report{SchemaVersion: ReportSchemaVersion, Tool: "tmsync", Version: Version, Mode: mode,
		Started: o.Clock().UTC(), Target: o.Target.String()}
	if o.ShardCount > 1 {
		rep.Shard = &Shard{Index: o.ShardIndex, Count: o.ShardCount}
	}
	folder, err := manifest.Load(o.ReleaseDir, o.Release)
	if err != nil {
		return nil, startErr("reading release folder "+o.ReleaseDir, err)
	}
	items, err := e.items(folder, rep)
	if err != nil {
		return nil, err
	}
	o.Logger.Info("release read", "dir", o.ReleaseDir, "images", len(items), "mode", mode)
	e.warnSystemOverrides(items)
	if err := e.checkReleasePin(rep); err != nil {
		return nil, err
	}
	o.Observer.Event(Event{Kind: "begin", Total: len(items),
		Message: fmt.Sprintf("%s: %d images from %s to %s", mode, len(items), o.ReleaseDir, o.Target)})

	steps := []func(context.Context, []*item, *Report) error{e.resolve, e.attest, e.repositories, e.existing}
	if mode == ModeSync {
		steps = append(steps, e.copyAll)
	}
	for _, step := range steps {
		if err := step(withMode(ctx, mode), items, rep); err != nil {
			if ctx.Err() != nil {
				break // interrupted, not a failure to start: report what was done
			}
			return nil, err
		}
	}
	for _, it := range items {
		if it.done {
			continue
		}
		switch {
		case ctx.Err() != nil && mode == ModeSync:
			it.fail("copy", OutcomeFailed, ErrInterrupted)
		case ctx.Err() != nil:
			it.fail(mode, OutcomeFailed, ErrInterrupted)
		case mode == ModePlan:
			it.rec.Outcome = OutcomePlanned
		case mode == ModeVerify:
			it.fail("verify", OutcomeFailed, fmt.Errorf("%s:%s is missing from the target", it.repo, it.img.Dest.Tag))
			e.event("fail", it, it.rec.Reason)
		default:
			it.fail("copy", OutcomeFailed, ErrInterrupted)
		}
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	rep.Finished = o.Clock().UTC()
	rep.summarize()
	return rep, nil
}

type modeKey struct{}

func withMode(ctx context.Context, mode string) context.Context {
	return context.WithValue(ctx, modeKey{}, mode)
}

func modeOf(ctx context.Context) string { m, _ := ctx.Value(modeKey{}).(string); return m }

// items turns the folder into the run's items, in the report's order. Destinations that
// cannot form a repository name stop the run before anything happens.
func (e *Engine) items(folder *manifest.Folder, rep *Report) ([]*item, error) {
	o := &e.opts
	var items []*item
	var bad []error
	for _, rel := range folder.Releases {
		rr := ReleaseRecord{Version: rel.Version}
		for _, f := range rel.Files {
			rr.Files = append(rr.Files, FileRecord{Path: f.Path, SHA256: f.SHA256})
		}
		rep.Releases = append(rep.Releases, rr)
		for _, ig := range rel.Ignored {
			repo, err := o.Target.RepositoryName(ig.Image.Dest.Repository)
			if err == nil && !e.inShard(repo) {
				continue
			}
			rec := newRecord(ig.Image)
			rec.Outcome, rec.Reason = OutcomeIgnored, ig.Reason
			rep.Images = append(rep.Images, *rec)
		}
		for _, img := range rel.Images {
			repo, err := o.Target.RepositoryName(img.Dest.Repository)
			if err != nil {
				bad = append(bad, fmt.Errorf("%s: %w", img.Origin, err))
				continue
			}
			if !e.inShard(repo) {
				continue
			}
			img, src := e.vendorSource(img)
			items = append(items, &item{img: img, src: src, repo: repo, dgst: img.Source.Digest, rec: newRecord(img)})
		}
	}
	if len(bad) > 0 {
		return nil, startErr("checking destinations", errors.Join(bad...))
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
	return items, nil
}

func newRecord(img manifest.Image) *ImageRecord {
	return &ImageRecord{Dest: img.Dest.String(), Source: img.Source.String(), Version: img.Version,
		Origin: img.Origin.String(), Vendor: img.Vendor, Digest: img.Source.Digest.String()}
}

// inShard reports whether repo belongs to this run's shard. Sharding by repository means
// one shard owns each repository: no two shards create it, set its policies or push its
// immutable tags.
func (e *Engine) inShard(repo string) bool {
	if e.opts.ShardCount <= 1 {
		return true
	}
	return ShardOf(repo, e.opts.ShardCount) == e.opts.ShardIndex
}

// ShardOf returns the shard, of count, that owns a repository.
func ShardOf(repo string, count int) int {
	h := fnv.New32a()
	h.Write([]byte(repo))
	return int(h.Sum32() % uint32(count))
}

// pending returns the items that have no final outcome yet.
func pending(items []*item) []*item {
	var out []*item
	for _, it := range items {
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
func (e *Engine) resolve(ctx context.Context, items []*item, _ *Report) error {
	var unpinned []*item
	for _, it := range pending(items) {
		if it.dgst == "" {
			unpinned = append(unpinned, it)
		}
	}
	forEach(ctx, unpinned, e.opts.Concurrency, func(ctx context.Context, it *item) {
		var d digest.Digest
		err := e.again(ctx, it, "resolving "+it.img.Source.Pullable(), func() (err error) {
			d, err = e.sourceDigest(ctx, it.src)
			return err
		})
		if err != nil {
			it.fail("resolve", OutcomeFailed, fmt.Errorf("resolving %s: %w", it.img.Source.Pullable(), err))
			return
		}
		it.dgst = d
		it.rec.Digest = d.String()
		e.event("info", it, "resolved "+it.img.Source.Pullable()+" to "+d.String())
	})
	return nil
}

// attest verifies every image's attestation before a single byte moves.
func (e *Engine) attest(ctx context.Context, items []*item, _ *Report) error {
	todo := pending(items)
	if len(todo) == 0 {
		return nil
	}
	subjects := make([]Subject, 0, len(todo))
	for _, it := range todo {
		subjects = append(subjects, Subject{Repository: it.src.Name(), Digest: it.dgst})
	}
	if err := e.opts.Attestor.Prepare(ctx, subjects); err != nil {
		return startErr("fetching attestations", err)
	}
	for i, it := range todo {
		att, err := e.opts.Attestor.Verify(ctx, subjects[i])
		switch {
		case err == nil:
			it.rec.Attestation = att
		case errors.Is(err, ErrNotAttested) && !it.img.Vendor && e.opts.BYOPolicy == BYOPinned && it.img.Pinned():
			// An upstream image the vendor does not attest: the release pins its digest,
			// and the copy is by that digest, so what arrives is what the release names.
			it.rec.AttestationNote = "not attested: upstream image copied by the digest the release pins (--byo-policy=pinned)"
			e.event("warn", it, it.rec.AttestationNote)
		case errors.Is(err, ErrAttestationUnavailable):
			it.fail("attestation", OutcomeFailed, err)
		default:
			it.fail("attestation", OutcomeRejected, err)
		}
		if it.done {
			e.event("fail", it, it.rec.Reason)
		}
	}
	return nil
}

// repositories ensures (or, for plan and verify, checks) every target repository that an
// image still on its way needs, once each.
func (e *Engine) repositories(ctx context.Context, items []*item, rep *Report) error {
	byRepo := map[string][]*item{}
	var names []string
	for _, it := range pending(items) {
		if _, ok := byRepo[it.repo]; !ok {
			names = append(names, it.repo)
		}
		byRepo[it.repo] = append(byRepo[it.repo], it)
	}
	sort.Strings(names)
	mode := modeOf(ctx)
	results := make([]*Repository, len(names))
	errs := make([]error, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.opts.LookupConcurrency)
	for i, name := range names {
		g.Go(func() error {
			results[i], errs[i] = e.opts.Target.Ensure(gctx, name, mode != ModeSync)
			return nil
		})
	}
	_ = g.Wait()
	for i, name := range names {
		r, err := results[i], errs[i]
		if err == nil && len(r.Drift) > 0 {
			err = fmt.Errorf("repository %s differs from what was asked and cannot be changed: %s", name, strings.Join(r.Drift, "; "))
		}
		if err == nil && mode == ModeVerify && (r.Created || len(r.Changes) > 0) {
			err = fmt.Errorf("repository %s is not as asked: %s", name, describeChanges(r))
		}
		if r != nil {
			rep.Repositories = append(rep.Repositories, *r)
		}
		if err != nil {
			for _, it := range byRepo[name] {
				it.fail("repository", OutcomeFailed, err)
				e.event("fail", it, it.rec.Reason)
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
func (e *Engine) existing(ctx context.Context, items []*item, _ *Report) error {
	byRepo := map[string][]*item{}
	for _, it := range pending(items) {
		byRepo[it.repo] = append(byRepo[it.repo], it)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.opts.LookupConcurrency)
	for repo, its := range byRepo {
		g.Go(func() error {
			tags := make([]string, len(its))
			for i, it := range its {
				tags[i] = it.img.Dest.Tag
			}
			var found map[string]digest.Digest
			err := e.again(gctx, nil, "looking up tags in "+repo, func() (err error) {
				found, err = e.opts.Target.Existing(gctx, repo, tags)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			for _, it := range its {
				if err != nil {
					it.fail("lookup", OutcomeFailed, fmt.Errorf("looking up tags in %s: %w", repo, err))
					continue
				}
				have, ok := found[it.img.Dest.Tag]
				if ok {
					// The report names the destination of an image found in the target
					// (a copied one gets it from its copy): it is evidence too.
					if ref, _, err := e.opts.Target.Reference(gctx, it.repo, it.img.Dest.Tag); err == nil {
						it.rec.Destination = ref.DockerReference().String()
					}
				}
				switch {
				case !ok:
				case have == it.dgst:
					it.rec.Outcome = OutcomePresent
					it.done = true

					e.event("skip", it, "already present with digest "+have.String())
				default:
					it.fail("lookup", OutcomeFailed, fmt.Errorf("%w: %s:%s is %s in the target, the release says %s",
						ErrTagConflict, repo, it.img.Dest.Tag, have, it.dgst))
					e.event("fail", it, it.rec.Reason)
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	if modeOf(ctx) == ModeVerify {
		// One manifest read per present image: worth it for the audit of a verify, not
		// on every re-sync, which must stay a few requests per image.
		e.recordChildren(ctx, items)
	}
	return nil
}

// again runs a lookup, and runs it again while it fails for a transient reason, with the
// retries and backoff of a copy: a registry's passing 5xx must not fail an image before
// its copy even starts.
func (e *Engine) again(ctx context.Context, it *item, what string, lookup func() error) error {
	err := lookup()
	for attempt, backoff := 1, e.opts.RetryBackoff; err != nil && attempt <= e.opts.Retries && transient(err) && ctx.Err() == nil; attempt++ {
		e.event("retry", it, fmt.Sprintf("%s failed, retrying in %s: %v", what, backoff, err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		err = lookup()
		backoff *= 2
	}
	return err
}

func (e *Engine) event(kind string, it *item, msg string) {
	img := ""
	if it != nil {
		img = it.img.Dest.String()
	}
	e.opts.Observer.Event(Event{Kind: kind, Image: img, Message: msg})
	switch kind {
	case "fail":
		e.opts.Logger.Error(msg, "image", img)
	case "warn", "retry":
		e.opts.Logger.Warn(msg, "image", img)
	default:
		e.opts.Logger.Info(msg, "image", img)
	}
}

func since(t time.Time, now func() time.Time) float64 { return now().Sub(t).Seconds() }
