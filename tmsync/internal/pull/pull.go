package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	imgmanifest "go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/transports"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
	"github.com/tmsync/tmsync/tmsync/internal/regerr"
)

// DefaultIdleTimeout is Options.IdleTimeout's default.
const DefaultIdleTimeout = 60 * time.Second

// Options configure a Puller. The zero value retries with the defaults below and keeps
// nothing.
type Options struct {
	// Store holds the blobs fetched in this run. Default nil: every blob is streamed.
	Store *blobstore.Store
	// Keep says which blobs to keep in Store as they stream: those needed by more than
	// one image. Default nil: none (blobs already in Store are still served from it).
	Keep func(digest.Digest) bool
	// Retries is how many times one request is tried again. Default 6.
	Retries int
	// Backoff is the first wait before a retry, doubled each time with ±25% jitter, up
	// to MaxBackoff. Defaults 1 s and 30 s.
	Backoff, MaxBackoff time.Duration
	// IdleTimeout cuts a request that receives no byte for this long, and retries it.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// OnRetry, if set, is called before each retry (for logging; it must not block).
	OnRetry func(Retry)
	// OutageLimit is how long requests may keep failing after all their retries, with
	// nothing answered, before Unavailable reports the source down. Default
	// DefaultOutageLimit.
	OutageLimit time.Duration
	// Now is the clock of the outage detector (tests). Default time.Now.
	Now func() time.Time
}

// DefaultOutageLimit is Options.OutageLimit's default: a vendor outage shorter than this
// is ridden out by the retries; a longer one ends the run's copies instead of letting
// every image spend its retries in turn.
const DefaultOutageLimit = 5 * time.Minute

// ErrUnavailable is what Unavailable's error matches (errors.Is): requests have kept
// spending their retries for Options.OutageLimit with nothing answered.
var ErrUnavailable = errors.New("the source registry is unavailable")

// UnavailableError is Unavailable's error. It unwraps to the last failure, so that the
// cause (5xx, refused connection, ...) can still be told.
type UnavailableError struct {
	Since     time.Duration // since the source last answered a request (or the Puller began)
	Exhausted int64         // requests that spent their retries since then
	Last      error         // the last of those failures
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v: no request answered for %s, %d requests failed after all their retries; the last: %v",
		ErrUnavailable, e.Since.Round(time.Second), e.Exhausted, e.Last)
}

func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Last} }

// SizeError is a blob whose source does not send the length its manifest declares:
// it announces another length, or sends more bytes than the manifest says (More). The
// manifest is the one the vendor's attestation binds, so the source is wrong, and
// asking again does not help: it is not retried. Nothing beyond the declared length
// reaches the copy.
type SizeError struct {
	Digest   digest.Digest
	Declared int64 // the manifest's size
	Got      int64 // the length announced, or (More) the bytes sent so far
	More     bool
}

func (e *SizeError) Error() string {
	if e.More {
		return fmt.Sprintf("blob %s: the source sent more than the %d bytes its manifest declares (read stopped at %d)", e.Digest, e.Declared, e.Got)
	}
	return fmt.Sprintf("blob %s: the source announces %d bytes, its manifest declares %d", e.Digest, e.Got, e.Declared)
}

// Retry describes a failed request about to be tried again.
type Retry struct {
	Op      string        // "open", "manifest" or "blob"
	Digest  digest.Digest // the blob or manifest, when known
	Attempt int           // the attempt that failed, from 1
	Wait    time.Duration
	Err     error
}

// Stats count what a Puller did.
type Stats struct {
	// VendorGets is the blob requests made to the wrapped source (retries included),
	// VendorBytes the blob bytes read from it (skipped prefixes included).
	VendorGets  int64
	VendorBytes int64
	// StoreHits is the blobs served from the store, StoreBytes their bytes.
	StoreHits  int64
	StoreBytes int64
	// Kept is the blobs written into the store while streaming.
	Kept int64
	// Retries is every request retried; IdleCuts the ones cut by IdleTimeout;
	// RefetchedBytes the bytes the vendor sent again to resume a blob (prefixes fetched
	// again and skipped; 0 when every resume was a Range request).
	Retries        int64
	IdleCuts       int64
	RefetchedBytes int64
	// RangeResumes is the cut blobs resumed with a Range request answered with only the
	// missing bytes; RangeFallbacks the resumes that fetched the blob again from byte 0
	// instead (a source without GetBlobAt, a Range request refused, or ignored by the
	// server, or a stall while the server skipped the prefix itself).
	RangeResumes   int64
	RangeFallbacks int64
	// Finished is the kept blobs whose reader left before their end (a target that
	// failed the upload) and that were read on to the store in the background and
	// committed there; FinishedBytes the bytes read for them after the reader left.
	Finished, FinishedBytes int64
}

// Puller wraps source references. One Puller serves a whole run; it is safe for
// concurrent use.
type Puller struct {
	opts Options

	vendorGets, vendorBytes, storeHits, storeBytes, kept atomic.Int64
	retries, idleCuts, refetched                         atomic.Int64
	rangeResumes, rangeFallbacks                         atomic.Int64
	finished, finishedBytes                              atomic.Int64

	// Kept blobs whose reader left before their end are read on to the store in the
	// background (see blobReader.Close), under bg; Close cancels and waits for them.
	bg       context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex
	bgClosed bool
	bgWG     sync.WaitGroup

	// The outage detector (Unavailable): when the source last answered a request or
	// sent a blob byte (unix nanoseconds; New's time at first), and the requests that
	// spent their retries since.
	alive     atomic.Int64
	mu        sync.Mutex
	exhausted int64
	lastErr   error
	lastSpent time.Time // when the last of those failed
}

// New returns a Puller with opts, defaults applied.
func New(opts Options) (*Puller, error) {
	if opts.Retries == 0 {
		opts.Retries = 6
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Keep == nil {
		opts.Keep = func(digest.Digest) bool { return false }
	}
	if opts.OutageLimit == 0 {
		opts.OutageLimit = DefaultOutageLimit
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retries < 0 || opts.Backoff < 0 || opts.MaxBackoff < opts.Backoff || opts.IdleTimeout < 0 || opts.OutageLimit < 0 {
		return nil, fmt.Errorf("pull: invalid options (retries %d, backoff %s..%s, idle %s, outage limit %s)",
			opts.Retries, opts.Backoff, opts.MaxBackoff, opts.IdleTimeout, opts.OutageLimit)
	}
	p := &Puller{opts: opts}
	p.bg, p.bgCancel = context.WithCancel(context.Background())
	p.alive.Store(opts.Now().UnixNano())
	return p, nil
}

// Close stops the blobs being read on to the store in the background (their partial
// files are dropped) and waits for them. Call it before closing the store. The Puller
// still serves after Close, without background reads.
func (p *Puller) Close() {
	p.bgMu.Lock()
	p.bgClosed = true
	p.bgMu.Unlock()
	p.bgCancel()
	p.bgWG.Wait()
}

// Wait waits for the blobs being read on to the store in the background (for tests).
func (p *Puller) Wait() { p.bgWG.Wait() }

// Unavailable reports the source down: requests keep spending all their retries, the
// last of them Options.OutageLimit or more after the source last answered a request or
// sent a blob byte. A caller checks it before starting (or retrying) an image, so that
// a vendor gone for good ends the run in minutes rather than after every image has
// spent its retries in turn. Time without requests does not count (late in a run the
// copies may need nothing from the vendor for long: one old failure is not an outage);
// any answered request clears it, and so does a download that is moving, however long.
// nil while the source is up, or failing only briefly.
func (p *Puller) Unavailable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	alive := time.Unix(0, p.alive.Load())
	if p.exhausted == 0 || p.lastSpent.Sub(alive) < p.opts.OutageLimit {
		return nil
	}
	return &UnavailableError{Since: p.opts.Now().Sub(alive), Exhausted: p.exhausted, Last: p.lastErr}
}

// answered records a request the source answered.
func (p *Puller) answered() {
	p.mu.Lock()
	p.alive.Store(p.opts.Now().UnixNano())
	p.exhausted, p.lastErr = 0, nil
	p.mu.Unlock()
}

// spent records a request that failed after all its retries, for a temporary reason.
func (p *Puller) spent(err error) {
	p.mu.Lock()
	p.exhausted++
	p.lastErr, p.lastSpent = err, p.opts.Now()
	p.mu.Unlock()
}

// Stats returns the counts so far.
func (p *Puller) Stats() Stats {
	return Stats{
		VendorGets: p.vendorGets.Load(), VendorBytes: p.vendorBytes.Load(),
		StoreHits: p.storeHits.Load(), StoreBytes: p.storeBytes.Load(), Kept: p.kept.Load(),
		Retries: p.retries.Load(), IdleCuts: p.idleCuts.Load(), RefetchedBytes: p.refetched.Load(),
		RangeResumes: p.rangeResumes.Load(), RangeFallbacks: p.rangeFallbacks.Load(),
		Finished: p.finished.Load(), FinishedBytes: p.finishedBytes.Load(),
	}
}

// Wrap returns ref with the Puller's behaviour. Give the result to copy.Image as the
// source.
func (p *Puller) Wrap(ref types.ImageReference) types.ImageReference {
	return &wrappedRef{ImageReference: ref, p: p}
}

type wrappedRef struct {
	types.ImageReference
	p *Puller
}

func (r *wrappedRef) NewImageSource(ctx context.Context, sys *types.SystemContext) (types.ImageSource, error) {
	var src types.ImageSource
	err := r.p.retry(ctx, "open", r.digest(), func(ctx context.Context) error {
		var err error
		src, err = r.ImageReference.NewImageSource(ctx, sys)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &wrappedSource{ImageSource: src, ref: r, p: r.p}, nil
}

func (r *wrappedRef) NewImage(ctx context.Context, sys *types.SystemContext) (types.ImageCloser, error) {
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	img, err := image.FromSource(ctx, sys, src)
	if err != nil {
		src.Close()
		return nil, err
	}
	return img, nil
}

// digest is the reference's digest when it names one.
func (r *wrappedRef) digest() digest.Digest {
	if c, ok := r.DockerReference().(reference.Canonical); ok {
		return c.Digest()
	}
	return ""
}

type wrappedSource struct {
	types.ImageSource
	ref *wrappedRef
	p   *Puller

	rangeOnce sync.Once
	rangeFn   rangeFunc // nil: the source cannot resume with Range

	mu        sync.Mutex
	finishing int  // blobs read on in the background (finishLater)
	closed    bool // Close was called: the last of them closes the source
}

// getRange returns the source's ranged fetch, or nil.
func (s *wrappedSource) getRange() rangeFunc {
	s.rangeOnce.Do(func() { s.rangeFn, _ = rangeGetter(s.ImageSource) })
	return s.rangeFn
}

func (s *wrappedSource) Reference() types.ImageReference { return s.ref }

func (s *wrappedSource) GetManifest(ctx context.Context, instanceDigest *digest.Digest) ([]byte, string, error) {
	want := s.ref.digest()
	if instanceDigest != nil {
		want = *instanceDigest
	}
	st := s.p.opts.Store
	if st != nil && want != "" {
		if b, ok := readSmall(st, want); ok {
			return b, imgmanifest.GuessMIMEType(b), nil
		}
	}
	var man []byte
	var mime string
	err := s.p.retry(ctx, "manifest", want, func(ctx context.Context) error {
		var err error
		man, mime, err = s.ImageSource.GetManifest(ctx, instanceDigest)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	// Keep it only when it is what was asked for; copy.Image checks the digest itself.
	if st != nil && want != "" && want.Validate() == nil && want.Algorithm().FromBytes(man) == want {
		_ = st.Put(ctx, want, int64(len(man)), bytes.NewReader(man)) // a full store only loses the shortcut
	}
	return man, mime, nil
}

// StoredManifest returns manifest d when the store holds it (read by ImageBlobs or an
// earlier GetManifest, and verified by digest on the way in), without opening the
// source: opening a docker source fetches its manifest again.
func (p *Puller) StoredManifest(d digest.Digest) ([]byte, bool) {
	if p.opts.Store == nil || d.Validate() != nil {
		return nil, false
	}
	return readSmall(p.opts.Store, d)
}

// readSmall reads a manifest from the store.
func readSmall(st *blobstore.Store, d digest.Digest) ([]byte, bool) {
	rc, _, err := st.Open(d)
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	return b, err == nil
}

func (s *wrappedSource) GetBlob(ctx context.Context, info types.BlobInfo, cache types.BlobInfoCache) (io.ReadCloser, int64, error) {
	st := s.p.opts.Store
	var w *blobstore.Writer
	if st != nil && info.Digest.Validate() == nil {
		for try := 0; try < 3; try++ {
			if rc, size, err := st.Open(info.Digest); err == nil {
				s.p.storeHits.Add(1)
				s.p.storeBytes.Add(size)
				return rc, size, nil
			}
			if !s.p.opts.Keep(info.Digest) {
				break
			}
			var err error
			w, err = st.Begin(ctx, info.Digest, info.Size)
			if errors.Is(err, blobstore.ErrExists) {
				continue // another image just stored it: read it from the store
			}
			if ctx.Err() != nil {
				if err == nil {
					w.Abort() // else the blob's other readers wait on it for ever
				}
				return nil, 0, ctx.Err()
			}
			if err != nil {
				w = nil // over the bound, or no size known: stream without keeping
			}
			break
		}
	}
	lctx, leave := context.WithCancel(ctx)
	b := &blobReader{ctx: lctx, leave: leave, src: s, info: info, cache: cache, tee: w, size: -1}
	if err := b.open(); err != nil {
		b.dropTee()
		leave()
		return nil, 0, err
	}
	return b, b.size, nil
}

// blobReader reads one blob from the source. After a failure it resumes at the first
// byte not yet delivered: with a Range request when the source has one (rangeGetter),
// otherwise by fetching the blob again and skipping what was already delivered.
type blobReader struct {
	// mu is held by each Read, and by the background finish (finishLater): net/http's
	// request writer may still be inside a Read of the copy's when the request has ended
	// and copy.Image has closed the reader. left says Close was called: a Read after it
	// fails at once, and one in flight returns at its next step without giving the blob
	// up (leaving). bg: the background finish owns the reader.
	mu   sync.Mutex
	left atomic.Bool
	bg   bool
	// mayFinish mirrors, for Close (which does not take mu), whether the blob is kept and
	// part-read: tee != nil, offset > 0, not done.
	mayFinish atomic.Bool
	// ctxMu guards cancel, detach and gen, which Close uses while a Read may hold mu.
	// gen counts the requests made (bodyContext): a body opened after Close detached
	// the request before it is not the one detached.
	ctxMu sync.Mutex
	gen   int

	ctx   context.Context // the caller's, until the background finish sets the Puller's
	leave context.CancelFunc
	src   *wrappedSource
	info  types.BlobInfo
	cache types.BlobInfoCache
	tee   *blobstore.Writer // nil: not kept

	body      io.ReadCloser
	errs      chan error // GetBlobAt's error channel while body is a ranged stream, else nil
	streams   chan io.ReadCloser
	ranged    bool // body starts at a Range resume (206)
	cancel    context.CancelFunc
	detach    func() bool // unties the body's context from the caller's (bodyContext)
	idle      *time.Timer
	fired     atomic.Bool
	size      int64
	offset    int64         // bytes delivered to the consumer
	fails     int           // body failures in a row without new bytes
	pause     time.Duration // the wait before the next resume (said in its Retry)
	noRange   bool          // resume this blob by refetching from byte 0
	done      bool
	committed bool // the kept copy is in the store
}

// open fetches the blob, with retries: from byte 0 the first time, and from the first
// byte not yet delivered after that.
func (b *blobReader) open() error {
	p := b.src.p
	return p.retry(b.ctx, "blob", b.info.Digest, func(ctx context.Context) error {
		if b.offset > 0 && !b.noRange {
			if get := b.src.getRange(); get != nil {
				err := b.openRange(ctx, get)
				if err == nil || retryable(ctx, err) || ctx.Err() != nil {
					return err // a failed Range request is retried as one
				}
				// Refused (400 BadPartialRequest, 416, ...): refetch from byte 0.
			}
			b.fallBack()
		}
		return b.openFull(ctx)
	})
}

// fallBack marks the blob as resumed from byte 0 from now on.
func (b *blobReader) fallBack() {
	if !b.noRange {
		b.noRange = true
		b.src.p.rangeFallbacks.Add(1)
	}
}

// openFull fetches the blob from byte 0 and skips the delivered prefix.
func (b *blobReader) openFull(ctx context.Context) error {
	p := b.src.p
	actx, cancel := b.bodyContext(ctx)
	b.fired.Store(false)
	idle := time.AfterFunc(p.opts.IdleTimeout, func() { b.fired.Store(true); cancel() })
	p.vendorGets.Add(1)
	rc, size, err := b.src.ImageSource.GetBlob(actx, b.info, b.cache)
	if err != nil {
		idle.Stop()
		cancel()
		return b.idleErr(err)
	}
	if b.info.Size > 0 && size >= 0 && size != b.info.Size {
		// The manifest (verified against the attestation) says how long the blob is: a
		// source announcing another length is not sending it, and nothing of it is read.
		idle.Stop()
		cancel()
		rc.Close()
		return &SizeError{Digest: b.info.Digest, Declared: b.info.Size, Got: size}
	}
	if b.offset > 0 {
		if size >= 0 && b.size >= 0 && size != b.size {
			idle.Stop()
			cancel()
			rc.Close()
			return fmt.Errorf("blob %s changed size on resume: %d, then %d", b.info.Digest, b.size, size)
		}
		idle.Reset(p.opts.IdleTimeout)
		n, err := io.CopyN(io.Discard, &idleReader{r: rc, t: idle, d: p.opts.IdleTimeout}, b.offset)
		p.vendorBytes.Add(n)
		p.refetched.Add(n)
		if err != nil {
			idle.Stop()
			cancel()
			rc.Close()
			return b.idleErr(err)
		}
	}
	idle.Stop()
	if b.size < 0 {
		b.size = size
		if b.info.Size > 0 {
			// A body without a length (chunked) is held to the manifest's: the first byte
			// beyond it ends the read (see Read), so a source cannot make the copy upload
			// without end.
			b.size = b.info.Size
		}
	}
	b.body, b.errs, b.streams, b.ranged, b.idle = rc, nil, nil, false, idle
	b.setCancel(cancel)
	return nil
}

// openRange asks the source for the bytes from b.offset on.
func (b *blobReader) openRange(ctx context.Context, get rangeFunc) error {
	p := b.src.p
	actx, cancel := b.bodyContext(ctx)
	b.fired.Store(false)
	idle := time.AfterFunc(p.opts.IdleTimeout, func() { b.fired.Store(true); cancel() })
	p.vendorGets.Add(1)
	streams, errs, err := get(actx, b.info, uint64(b.offset))
	if err != nil {
		idle.Stop()
		cancel()
		return b.idleErr(err)
	}
	// The answer's headers are in. On a 206 the stream comes at once; on a 200 (the
	// server ignored Range) containers/image skips the prefix itself first.
	rc, err := firstStream(actx, streams, errs)
	idle.Stop()
	if err != nil {
		cancel()
		go drainBlobAt(streams, errs)
		if b.fired.Load() {
			// No stream within the idle timeout: a stall, or a server skipping a long
			// prefix that the idle timer cannot see. Resume from byte 0 from now on,
			// where every byte resets the timer.
			b.fallBack()
		}
		return b.idleErr(err)
	}
	if skippedByClient(rc) {
		// A 200: the whole prefix crossed the link again.
		p.vendorBytes.Add(b.offset)
		p.refetched.Add(b.offset)
		b.fallBack()
	} else {
		p.rangeResumes.Add(1)
	}
	b.body, b.errs, b.streams, b.ranged, b.idle = rc, errs, streams, true, idle
	b.setCancel(cancel)
	return nil
}

// firstStream waits for GetBlobAt's one stream, or its error.
func firstStream(ctx context.Context, streams chan io.ReadCloser, errs chan error) (io.ReadCloser, error) {
	for streams != nil || errs != nil {
		select {
		case s, ok := <-streams:
			if !ok {
				streams = nil
				continue
			}
			if s == nil {
				return nil, errors.New("ranged fetch: no stream")
			}
			return s, nil
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, errors.New("ranged fetch: no data returned")
}

// drainBlobAt consumes what is left in GetBlobAt's channels, so that its goroutine ends,
// and returns the first error reported. Both channels are closed when the producer is
// done; it reports errors after the stream.
func drainBlobAt(streams chan io.ReadCloser, errs chan error) error {
	var first error
	for streams != nil || errs != nil {
		select {
		case s, ok := <-streams:
			if !ok {
				streams = nil
				continue
			}
			if s != nil {
				s.Close()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// idleErr marks an error caused by the idle timer.
func (b *blobReader) idleErr(err error) error {
	if b.fired.Load() && b.ctx.Err() == nil {
		b.src.p.idleCuts.Add(1)
		return &idleError{timeout: b.src.p.opts.IdleTimeout, err: err}
	}
	return err
}

// errLeft is a Read of a blob reader after its Close.
var errLeft = errors.New("pull: blob reader closed")

func (b *blobReader) Read(buf []byte) (int, error) {
	if b.left.Load() {
		return 0, errLeft
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left.Load() {
		return 0, errLeft // closed while this Read waited for the lock
	}
	return b.read(buf)
}

// leaving reports whether the reader was closed while a Read of the copy's was in
// flight: that Read stops at its next step and leaves the blob to the background finish.
func (b *blobReader) leaving() bool { return b.left.Load() && !b.bg }

// setCancel sets the current body's cancel function.
func (b *blobReader) setCancel(cancel context.CancelFunc) {
	b.ctxMu.Lock()
	b.cancel = cancel
	b.ctxMu.Unlock()
}

func (b *blobReader) read(buf []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	p := b.src.p
	for {
		if b.body == nil {
			if b.leaving() {
				return 0, errLeft
			}
			if b.size >= 0 && b.offset == b.size && b.offset > 0 {
				// Cut after its last byte: nothing is missing (the digest is still checked
				// by the store and by copy.Image).
				b.finish()
				return 0, io.EOF
			}
			if b.pause > 0 {
				if err := b.wait(b.pause); err != nil {
					if b.leaving() {
						return 0, errLeft
					}
					b.dropTee()
					return 0, err
				}
				b.pause = 0
			}
			if err := b.open(); err != nil {
				if b.leaving() {
					return 0, errLeft
				}
				b.dropTee()
				return 0, err
			}
		}
		b.idle.Reset(p.opts.IdleTimeout)
		n, err := b.body.Read(buf)
		b.idle.Stop()
		if b.size >= 0 && b.offset+int64(n) > b.size {
			// More bytes than the blob has: a Range resume that started elsewhere, or a
			// body without a length that does not end. None of this Read is delivered.
			b.closeBody()
			b.dropTee()
			b.done = true
			if b.ranged {
				return 0, fmt.Errorf("blob %s: the Range resume at byte %d sent more than the blob's %d bytes", b.info.Digest, b.offset, b.size)
			}
			return 0, &SizeError{Digest: b.info.Digest, Declared: b.size, Got: b.offset + int64(n), More: true}
		}
		if n > 0 {
			b.fails = 0
			p.vendorBytes.Add(int64(n))
			p.alive.Store(p.opts.Now().UnixNano()) // a moving download: the source is up
			b.offset += int64(n)
			if b.tee != nil {
				if _, werr := b.tee.Write(buf[:n]); werr != nil {
					b.dropTee() // the store can't take it (e.g. more bytes than announced): stream on
				} else {
					b.mayFinish.Store(true)
				}
			}
		}
		if err == nil {
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			err = b.endBody()
			if err == nil && b.size >= 0 && b.offset < b.size {
				err = fmt.Errorf("body ended at byte %d of %d: %w", b.offset, b.size, io.ErrUnexpectedEOF)
			}
			if err == nil {
				b.finish()
				return n, io.EOF
			}
		} else {
			err = callerErr(b.ctx, b.idleErr(err))
			b.closeBody()
		}
		if b.leaving() {
			return n, errLeft // the body is closed; the background finish resumes after it
		}
		b.fails++
		if !retryable(b.ctx, err) || b.fails > p.opts.Retries {
			b.dropTee()
			if b.fails > 1 {
				err = fmt.Errorf("blob %s at byte %d: %d failures in a row: %w", b.info.Digest, b.offset, b.fails, err)
			}
			return n, err
		}
		p.retries.Add(1)
		// The first resume is immediate (containers/image already waited 1 s); later ones
		// wait the backoff, said in the retry before the wait.
		b.pause = 0
		if b.fails > 1 {
			b.pause = b.backoff(b.fails - 1)
		}
		if p.opts.OnRetry != nil {
			p.opts.OnRetry(Retry{Op: "blob", Digest: b.info.Digest, Attempt: b.fails, Wait: b.pause, Err: err})
		}
		if n > 0 {
			return n, nil // hand over what arrived; the next Read resumes
		}
	}
}

// finish ends a blob read to its end: the kept copy is committed (the store checks its
// digest).
func (b *blobReader) finish() {
	p := b.src.p
	b.done = true
	b.mayFinish.Store(false)
	if b.tee != nil {
		if b.tee.Commit() == nil {
			p.kept.Add(1)
			b.committed = true
		}
		b.tee = nil
	}
}

// endBody closes a body read to its end. For a ranged stream it then reads GetBlobAt's
// error channel (bounded by the idle timeout): an error there (a bad multipart answer,
// say) fails the body, and the blob is resumed from byte 0.
func (b *blobReader) endBody() error {
	if b.errs == nil {
		b.closeBody()
		return nil
	}
	streams, errs := b.streams, b.errs
	b.body.Close()
	done := make(chan error, 1)
	go func() { done <- drainBlobAt(streams, errs) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(b.src.p.opts.IdleTimeout):
		err = &idleError{timeout: b.src.p.opts.IdleTimeout, err: errors.New("ranged fetch: no end after the body")}
	}
	b.cancel()
	b.body, b.errs, b.streams = nil, nil, nil
	if err != nil {
		b.fallBack()
		return fmt.Errorf("ranged fetch: %w (%w)", err, io.ErrUnexpectedEOF)
	}
	return nil
}

// backoff is the wait before the k-th retry in a row (k from 1), jittered.
func (b *blobReader) backoff(k int) time.Duration {
	p := b.src.p
	d := p.opts.Backoff
	for i := 1; i < k && d < p.opts.MaxBackoff; i++ {
		d *= 2
	}
	return jitter(min(d, p.opts.MaxBackoff))
}

// wait sleeps d, or until the reader's context ends.
func (b *blobReader) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.ctx.Done():
		return b.ctx.Err()
	case <-t.C:
		return nil
	}
}

// closeBody abandons the body (cut, stalled, or no longer wanted).
func (b *blobReader) closeBody() {
	if b.body != nil {
		b.cancel() // first: a stream that skips to its end on Close must not read on
		b.body.Close()
		if b.errs != nil {
			go drainBlobAt(b.streams, b.errs)
		}
		b.body, b.errs, b.streams = nil, nil, nil
	}
}

func (b *blobReader) dropTee() {
	b.mayFinish.Store(false)
	if b.tee != nil {
		b.tee.Abort()
		b.tee = nil
	}
}

// Close stops reading. A kept blob that its reader leaves part-way, the source having
// failed nothing (the target failed the upload, or the copy was cut), is read on to its
// end into the store in the background (finishLater): the retry of the image, and every
// other image that needs the blob, read it there, and the vendor sends each byte once.
// Not for a blob left before its first byte (the target may have had it already), nor
// once the Puller is closed. Any other kept blob not read to its end is dropped from the
// store. Close does not wait for a Read in flight to give the blob up for long: it ends
// the reader's requests first.
func (b *blobReader) Close() error {
	if b.left.Swap(true) {
		return nil
	}
	if b.mayFinish.Load() && b.src.finishLater(b) {
		return nil
	}
	b.leave()
	b.ctxMu.Lock()
	if b.cancel != nil {
		b.cancel() // a Read in flight returns
	}
	b.ctxMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeBody()
	b.dropTee()
	b.done = true
	return nil
}

// bodyContext is the context of one request for the blob: a context of its own that
// ends with ctx (the caller's, copy.Image's), until detach unties it so that the body
// can be read on after the caller has gone (finishLater). The values of ctx carry over.
func (b *blobReader) bodyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	b.ctxMu.Lock()
	b.detach = stop
	b.gen++
	b.ctxMu.Unlock()
	return actx, func() { stop(); cancel() }
}

// finishLater reads b, which its reader has just closed, on to its end into the store in
// the background, and reports whether it does. The source stays open until it is done.
func (s *wrappedSource) finishLater(b *blobReader) bool {
	p := s.p
	p.bgMu.Lock()
	if p.bgClosed {
		p.bgMu.Unlock()
		return false
	}
	p.bgWG.Add(1)
	p.bgMu.Unlock()
	s.mu.Lock()
	s.finishing++
	s.mu.Unlock()
	// The body in flight goes on if its context can still be untied from the copy's
	// (which ends with the copy), and is then tied to the Puller's: its bytes in flight
	// (a TCP window's worth, megabytes) are read, not sent again. Otherwise it is dropped
	// and the rest fetched with a Range request. Done now, before the copy's context
	// ends; a Read of the copy's may still be in flight (it holds mu).
	stopBG := func() bool { return false }
	b.ctxMu.Lock()
	detached, gen := b.detach != nil && b.detach(), b.gen
	if detached && b.cancel != nil {
		stopBG = context.AfterFunc(p.bg, b.cancel)
	}
	b.ctxMu.Unlock()
	go func() {
		defer p.bgWG.Done()
		defer s.finished()
		defer b.leave()
		defer stopBG()
		b.mu.Lock() // after the copy's Read in flight, if any
		defer b.mu.Unlock()
		b.bg, b.ctx = true, p.bg
		if !detached || b.gen != gen {
			// Tied to the copy's context (gone, or going), or opened by the copy's Read
			// in flight after the detached request (not detached itself).
			b.closeBody()
		} else if b.body != nil {
			// The detached request's body: its cancel may have been set only after Close
			// (the Read in flight was opening it), so tie the current one to the Puller's.
			defer context.AfterFunc(p.bg, b.cancel)()
		}
		from, wasCommitted := b.offset, b.committed
		if b.tee != nil && !b.done && b.offset > 0 {
			buf := make([]byte, 32<<10)
			for b.tee != nil { // read tees every byte; at the end the store commits (finish)
				if _, err := b.read(buf); err != nil {
					break // failed, or cancelled by Puller.Close: the tee is dropped below
				}
			}
		}
		b.closeBody()
		b.dropTee()
		b.done = true
		if b.committed && !wasCommitted { // not when the copy's Read in flight got to the end
			p.finished.Add(1)
			p.finishedBytes.Add(b.offset - from)
		}
	}()
	return true
}

// finished ends one background read of the source, closing the source if it was closed
// meanwhile.
func (s *wrappedSource) finished() {
	s.mu.Lock()
	s.finishing--
	closeNow := s.finishing == 0 && s.closed
	s.mu.Unlock()
	if closeNow {
		_ = s.ImageSource.Close()
	}
}

// Close closes the source, once the blobs read on in the background from it are done.
func (s *wrappedSource) Close() error {
	s.mu.Lock()
	s.closed = true
	later := s.finishing > 0
	s.mu.Unlock()
	if later {
		return nil
	}
	return s.ImageSource.Close()
}

// idleReader resets an idle timer while bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	i.t.Reset(i.d)
	return i.r.Read(p)
}

// idleError is a request cut by the Puller's idle timer: the source sent nothing for
// timeout. It is a network timeout (a net.Error whose Timeout is true), retried like
// one, here and by the engine. It does not unwrap to what the cut attempt returned:
// that is the cancellation of the attempt's own context, which must not read as the
// caller's interruption (context.Canceled) once the retries are spent; it is kept in the
// message only.
type idleError struct {
	timeout time.Duration
	err     error
}

func (e *idleError) Error() string {
	return fmt.Sprintf("no byte received for %s (idle timeout): %v", e.timeout, e.err)
}

// Timeout is true: the source stalled.
func (e *idleError) Timeout() bool { return true }

// Temporary is true (net.Error's deprecated method).
func (e *idleError) Temporary() bool { return true }

var _ net.Error = (*idleError)(nil)

// retry runs op until it succeeds, fails for good, or the retries are spent. Each
// attempt gets its own context, cut after IdleTimeout unless op arms its own timer
// (the blob fetch does).
func (p *Puller) retry(ctx context.Context, op string, d digest.Digest, f func(ctx context.Context) error) error {
	wait := p.opts.Backoff
	for attempt := 1; ; attempt++ {
		var err error
		if op == "blob" {
			err = f(ctx)
		} else {
			actx, cancel := context.WithCancelCause(ctx)
			t := time.AfterFunc(p.opts.IdleTimeout, func() { cancel(errIdle) })
			err = f(actx)
			t.Stop()
			if errors.Is(context.Cause(actx), errIdle) && ctx.Err() == nil {
				p.idleCuts.Add(1)
				err = &idleError{timeout: p.opts.IdleTimeout, err: err}
			}
			cancel(nil)
		}
		if err == nil {
			p.answered()
			return nil
		}
		err = callerErr(ctx, err)
		if attempt > p.opts.Retries || !retryable(ctx, err) {
			if attempt > p.opts.Retries && retryable(ctx, err) {
				p.spent(err)
			}
			if attempt > 1 {
				return fmt.Errorf("%s %s: %d attempts: %w", op, d, attempt, err)
			}
			return err
		}
		sleep := jitter(wait)
		p.retries.Add(1)
		if p.opts.OnRetry != nil {
			p.opts.OnRetry(Retry{Op: op, Digest: d, Attempt: attempt, Wait: sleep, Err: err})
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, p.opts.MaxBackoff)
	}
}

var errIdle = errors.New("idle timeout")

// callerErr is err, or, when the caller's ctx has ended, ctx's error: a request's own
// context (bodyContext) is only cancelled when the caller's ends, so its error would
// read "canceled" where the caller's deadline passed.
func callerErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + rand.N(d/2+1)
}

// retryable reports whether a failed request may succeed when made again: not after
// the caller's own cancellation; always after an idle cut (the source stalled); else as
// the registry and network classifier the engine's retry shares says (regerr.Classify:
// network faults, 408, 429 and 5xx whatever the body, not a refused credential, another
// status, an unknown name or digest, or a certificate that does not verify).
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var idle *idleError
	if errors.As(err, &idle) {
		return true
	}
	return regerr.Retryable(err)
}

// ImageBlobs lists the blobs an image copy pushes: the config and layers of the image,
// or of every instance of an index, each once, in order. It reads the manifests
// through the Puller (retried, and kept in the store when the reference names a
// digest), for the copy schedule.
func (p *Puller) ImageBlobs(ctx context.Context, ref types.ImageReference, sys *types.SystemContext) ([]types.BlobInfo, error) {
	src, err := p.Wrap(ref).NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	top, mime, err := src.GetManifest(ctx, nil)
	if err != nil {
		return nil, err
	}
	mans := [][]byte{top}
	if imgmanifest.MIMETypeIsMultiImage(mime) {
		list, err := imgmanifest.ListFromBlob(top, mime)
		if err != nil {
			return nil, fmt.Errorf("reading the index of %s: %w", transports.ImageName(ref), err)
		}
		mans = nil
		for _, d := range list.Instances() {
			m, _, err := src.GetManifest(ctx, &d)
			if err != nil {
				return nil, err
			}
			mans = append(mans, m)
		}
	}
	var out []types.BlobInfo
	seen := map[digest.Digest]bool{}
	for _, m := range mans {
		parsed, err := imgmanifest.FromBlob(m, imgmanifest.GuessMIMEType(m))
		if err != nil {
			return nil, fmt.Errorf("reading a manifest of %s: %w", transports.ImageName(ref), err)
		}
		blobs := []types.BlobInfo{parsed.ConfigInfo()}
		for _, l := range parsed.LayerInfos() {
			blobs = append(blobs, l.BlobInfo)
		}
		for _, b := range blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				out = append(out, b)
			}
		}
	}
	return out, nil
}
