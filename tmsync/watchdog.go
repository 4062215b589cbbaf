package tmsync

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/semaphore"
)

// The target side of a copy is containers/image's own HTTP client: it has a connect
// timeout (30 s) and a TLS handshake timeout, and nothing for a request the registry
// never answers or an upload it stops reading. The kernel ends such a connection after
// about 15 minutes of unacknowledged data, and one whose receive window the registry
// keeps closed, never. containers/image has no transport hook, so tmsync watches the
// copy from the side it holds, the source the copy reads from, and cuts a copy whose
// target has gone quiet for the idle timeout (WithIdleTimeout, the same as the
// source's); the engine then tries the image again (a stall is a timeout: Retryable).
//
//   - A blob is uploaded while its stream is open: containers/image opens it (GetBlob)
//     just before the upload and closes it once the target has committed the blob. A
//     stream that is open, not inside a Read (a Read in progress is the source's side,
//     cut by the puller's own idle timeout), and has not been read for the idle timeout
//     means a target that takes no byte and sends no answer: the copy is cut.
//   - Between blobs a copy reads nothing: its HEADs, mounts and manifest PUT go to the
//     target alone, and it may wait for a slot of the run's blob semaphore, held by other
//     images' streams. A copy with no open stream is cut when it has had no sign of life
//     (a source call, a progress event, a target request) for the idle timeout and no copy
//     can be waiting for a slot: the semaphore has room and no waiter. While some copy may
//     be waiting, it is cut only when no stream of the whole run has opened or closed for
//     the idle timeout either.
//   - Every request to the target is a sign of life (the system context's proxy hook sees
//     each): a registry that throttles with 429 and Retry-After is answering, and
//     containers/image waits (up to 60 s) and asks again (up to 5 times) before any byte
//     moves. After a request the watch waits the idle timeout and retryWait more.
//
// Once a stream has given its last byte the target still has to take what sits in the
// socket's buffers and commit the blob: ECR's commit of a large layer (an S3 multipart
// completion behind it) may take minutes. So a stream read to its end gets the idle
// timeout plus commitAllowance for its size before it counts as stalled.

// retryWait is how long after a request to the target the watch also waits, on top of the
// idle timeout, before it calls the copy quiet: the answer may have been a 429 whose
// Retry-After containers/image honours (up to 60 s) before it asks again. The idle timeout
// again, at most 60 s: a request that hangs is cut after twice the idle timeout (2 min by
// default).
func retryWait(idle time.Duration) time.Duration { return min(idle, time.Minute) }

// commitRate is the slowest commit the watch waits for after a blob's last byte: its
// size at this rate, on top of the idle timeout (1 GiB: 107 s more).
const commitRate = 10 << 20 // bytes per second

// commitAllowance is the time a stream read to its end may wait for the target's commit
// beyond the idle timeout.
func commitAllowance(size int64) time.Duration {
	if size <= 0 {
		return 0
	}
	return time.Duration(float64(size) / commitRate * float64(time.Second))
}

// watchEpoch and watchClock are the watch's clock: nanoseconds on the monotonic clock,
// which a step of the wall clock (NTP) does not move.
var watchEpoch = time.Now()

func watchClock() int64 { return int64(time.Since(watchEpoch)) }

// copyWatches is the run's side of the watch: the streams open in the run, when one last
// moved, and the copies cut.
type copyWatches struct {
	idle  time.Duration
	slots *semaphore.Weighted // the run's blob semaphore (nil: none)
	open  atomic.Int64        // streams open in the run
	last  atomic.Int64        // watchClock of the last stream opened or closed in the run
	cuts  atomic.Int64        // copies cut for a quiet target (counted by the engine)
}

func newCopyWatches(idle time.Duration, slots *semaphore.Weighted) *copyWatches {
	w := &copyWatches{idle: idle, slots: slots}
	w.last.Store(watchClock())
	return w
}

// targetStallError is why a copy was cut: its target moved nothing for the idle timeout.
// It is a network timeout (net.Error), so Retryable and ClassifyError (CauseTimeout)
// treat it as one.
type targetStallError struct {
	idle time.Duration
	blob digest.Digest // the blob whose upload stalled; "" between blobs
}

func (e *targetStallError) Error() string {
	if e.blob != "" {
		return fmt.Sprintf("the target took no byte of blob %s and sent no answer for %s (idle timeout): upload cut", e.blob, e.idle)
	}
	return fmt.Sprintf("the target answered nothing for %s (idle timeout): copy cut", e.idle)
}

func (e *targetStallError) Timeout() bool   { return true }
func (e *targetStallError) Temporary() bool { return true }

// copyWatch watches one try of one image's copy.
type copyWatch struct {
	run    *copyWatches
	cancel context.CancelCauseFunc
	last   atomic.Int64 // watchClock of this copy's last sign of life at the source
	asked  atomic.Int64 // watchClock of this copy's last request to the target
	calls  atomic.Int64 // source calls in progress (a manifest read, a blob being opened)

	mu       sync.Mutex
	streams  map[*watchedStream]struct{}
	causeErr error // the stall that cut the copy, once it has
	stop     chan struct{}
	done     chan struct{}
}

// watch starts watching a copy that runs under ctx, and returns the context to run it
// under and the watch; end stops the watch and returns the stall that cut the copy, or
// nil.
func (w *copyWatches) watch(ctx context.Context) (context.Context, *copyWatch) {
	cctx, cancel := context.WithCancelCause(ctx)
	c := &copyWatch{run: w, cancel: cancel, streams: map[*watchedStream]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	c.touch()
	c.asked.Store(watchClock()) // the copy's first requests are about to go out
	every := min(max(w.idle/4, 10*time.Millisecond), 5*time.Second)
	go func() {
		defer close(c.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-cctx.Done():
				return
			case now := <-t.C:
				if c.check(now) {
					return
				}
			}
		}
	}()
	return cctx, c
}

// end stops the watch and releases its context. It returns the stall that cut the copy,
// or nil.
func (c *copyWatch) end() error {
	close(c.stop)
	<-c.done
	c.mu.Lock()
	cause := c.causeErr
	left := make([]*watchedStream, 0, len(c.streams))
	for s := range c.streams {
		left = append(left, s)
	}
	c.mu.Unlock()
	for _, s := range left {
		s.detach() // a stream the copy did not close counts no more as open
	}
	c.cancel(nil)
	return cause
}

func (c *copyWatch) touch() { c.last.Store(watchClock()) }

// check cuts the copy if its target has gone quiet; it reports whether it did.
func (c *copyWatch) check(now time.Time) bool {
	idle := c.run.idle.Nanoseconds()
	t := int64(now.Sub(watchEpoch))
	c.mu.Lock()
	defer c.mu.Unlock()
	var stall *targetStallError
	// The copy's last request to the target: quiet since then only after the idle timeout
	// and the wait a registry may have asked for before it (retryWait).
	askedQuiet := t-c.asked.Load() > idle+retryWait(c.run.idle).Nanoseconds()
	for s := range c.streams {
		limit := idle
		if s.eof.Load() {
			limit += commitAllowance(s.size).Nanoseconds()
		}
		if !s.reading.Load() && t-s.last.Load() > limit && askedQuiet {
			stall = &targetStallError{idle: c.run.idle, blob: s.info.Digest}
			break
		}
	}
	if stall == nil && len(c.streams) == 0 && c.calls.Load() == 0 && t-c.last.Load() > idle && askedQuiet &&
		(c.run.noWaiters() || c.run.open.Load() == 0 && t-c.run.last.Load() > idle) {
		stall = &targetStallError{idle: c.run.idle}
	}
	if stall == nil {
		return false
	}
	c.causeErr = stall
	c.cancel(stall)
	return true
}

// noWaiters reports whether no copy can be waiting for a slot of the run's blob
// semaphore: it has room and no waiter (TryAcquire takes a slot only then; it is given
// back at once).
func (w *copyWatches) noWaiters() bool {
	if w.slots == nil || !w.slots.TryAcquire(1) {
		return false
	}
	w.slots.Release(1)
	return true
}

// proxy wraps a system context's proxy function (every request containers/image makes
// to the target goes through it) so that each request counts as the copy's sign of life.
func (c *copyWatch) proxy(next func(*url.URL) (*url.URL, error)) func(*url.URL) (*url.URL, error) {
	return func(u *url.URL) (*url.URL, error) {
		c.asked.Store(watchClock())
		if next == nil {
			return http.ProxyFromEnvironment(&http.Request{URL: u})
		}
		return next(u)
	}
}

// wrap makes ref's image sources report to the watch.
func (c *copyWatch) wrap(ref types.ImageReference) types.ImageReference {
	return &watchedRef{ImageReference: ref, w: c}
}

type watchedRef struct {
	types.ImageReference
	w *copyWatch
}

func (r *watchedRef) NewImageSource(ctx context.Context, sys *types.SystemContext) (types.ImageSource, error) {
	defer r.w.call()()
	src, err := r.ImageReference.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	return &watchedSource{ImageSource: src, w: r.w}, nil
}

// call marks a source call in progress until the function it returns is called.
func (c *copyWatch) call() func() {
	c.calls.Add(1)
	c.touch()
	return func() {
		c.touch()
		c.calls.Add(-1)
	}
}

type watchedSource struct {
	types.ImageSource
	w *copyWatch
}

func (s *watchedSource) GetManifest(ctx context.Context, instanceDigest *digest.Digest) ([]byte, string, error) {
	defer s.w.call()()
	return s.ImageSource.GetManifest(ctx, instanceDigest)
}

func (s *watchedSource) GetBlob(ctx context.Context, info types.BlobInfo, cache types.BlobInfoCache) (io.ReadCloser, int64, error) {
	defer s.w.call()()
	rc, n, err := s.ImageSource.GetBlob(ctx, info, cache)
	if err != nil {
		return nil, n, err
	}
	size := n
	if size < 0 {
		size = info.Size
	}
	st := &watchedStream{ReadCloser: rc, w: s.w, info: info, size: size}
	st.moved()
	s.w.mu.Lock()
	s.w.streams[st] = struct{}{}
	s.w.mu.Unlock()
	s.w.run.open.Add(1)
	return st, n, nil
}

// watchedStream is a blob stream the copy reads and uploads.
type watchedStream struct {
	io.ReadCloser
	w       *copyWatch
	info    types.BlobInfo
	size    int64       // the blob's size, -1 or 0 when unknown
	eof     atomic.Bool // the stream has given its last byte: the target commits
	reading atomic.Bool
	last    atomic.Int64 // watchClock of the last Read's return (or the opening)
	once    sync.Once
}

// moved marks the stream's opening or closing: a sign of life of the copy and of the run.
func (s *watchedStream) moved() {
	now := watchClock()
	s.last.Store(now)
	s.w.last.Store(now)
	s.w.run.last.Store(now)
}

// Read marks only the stream: the copy's and the run's marks matter when no stream is
// open, and the closing sets them.
func (s *watchedStream) Read(p []byte) (int, error) {
	s.reading.Store(true)
	n, err := s.ReadCloser.Read(p)
	s.last.Store(watchClock())
	if err == io.EOF {
		s.eof.Store(true)
	}
	s.reading.Store(false)
	return n, err
}

func (s *watchedStream) Close() error {
	s.detach()
	return s.ReadCloser.Close()
}

// detach takes the stream out of the watch, once.
func (s *watchedStream) detach() {
	s.once.Do(func() {
		s.w.mu.Lock()
		delete(s.w.streams, s)
		s.w.mu.Unlock()
		s.w.run.open.Add(-1)
		s.moved()
	})
}
