package tmsync

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/semaphore"
)

// gateSource is an image source whose blob streams block in Read until their gate opens.
type gateSource struct {
	types.ImageSource
	gate chan struct{}
}

func (s *gateSource) GetBlob(ctx context.Context, info types.BlobInfo, _ types.BlobInfoCache) (io.ReadCloser, int64, error) {
	n := int64(4)
	if info.Size > 0 {
		n = info.Size // the size the source says (the stream itself stays short)
	}
	return io.NopCloser(&gatedReader{gate: s.gate, r: strings.NewReader("blob")}), n, nil
}

type gatedReader struct {
	gate chan struct{}
	r    io.Reader
}

func (g *gatedReader) Read(p []byte) (int, error) {
	<-g.gate
	return g.r.Read(p)
}

type gateRef struct {
	types.ImageReference
	src *gateSource
}

func (r gateRef) NewImageSource(context.Context, *types.SystemContext) (types.ImageSource, error) {
	return r.src, nil
}

// openStream opens a blob stream of a watched copy, as containers/image does before an
// upload.
func openStream(t *testing.T, ctx context.Context, c *copyWatch, src *gateSource, d digest.Digest) io.ReadCloser {
	t.Helper()
	is, err := c.wrap(gateRef{src: src}).NewImageSource(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := is.GetBlob(ctx, types.BlobInfo{Digest: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// cutWithin waits for the watch to cut ctx, and returns the stall; nil if it was not cut
// within d.
func cutWithin(ctx context.Context, c *copyWatch, d time.Duration) error {
	select {
	case <-ctx.Done():
		return c.end()
	case <-time.After(d):
		return nil
	}
}

const blobA = digest.Digest("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")

func TestWatchCutsAStreamTheTargetStoppedTaking(t *testing.T) {
	w := newCopyWatches(100*time.Millisecond, nil)
	ctx, c := w.watch(context.Background())
	open := make(chan struct{})
	close(open)
	rc := openStream(t, ctx, c, &gateSource{gate: open}, blobA)
	if _, err := io.ReadAll(rc); err != nil { // the whole blob read: now the target must answer
		t.Fatal(err)
	}
	start := time.Now()
	err := cutWithin(ctx, c, 5*time.Second)
	if err == nil {
		t.Fatal("an open stream nobody read for 50x the idle timeout was not cut")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cut after %s with a 100ms idle timeout", took)
	}
	if !strings.Contains(err.Error(), blobA.String()) || !strings.Contains(err.Error(), "100ms") {
		t.Errorf("error %q does not name the blob and the timeout", err)
	}
	if !errors.Is(context.Cause(ctx), err) {
		t.Errorf("the copy's context cause is %v, want the stall", context.Cause(ctx))
	}
	// The engine's view of it: a timeout, tried again; not the operator's interruption.
	if !Retryable(err) || errors.Is(err, context.Canceled) || ClassifyError(err) != CauseTimeout {
		t.Errorf("stall: retryable %v, canceled %v, cause %q; want retryable, not canceled, timeout",
			Retryable(err), errors.Is(err, context.Canceled), ClassifyError(err))
	}
	_ = rc.Close()
	if n := w.open.Load(); n != 0 {
		t.Errorf("%d streams open after close", n)
	}
}

// A stream read to its end waits for the target's commit: a large blob gets more than the
// idle timeout for it (ECR's commit of a large layer may take minutes), a small one not.
func TestWatchGivesACommitTime(t *testing.T) {
	if got := commitAllowance(1 << 30); got < 100*time.Second || got > 110*time.Second {
		t.Errorf("commit allowance of 1 GiB: %s, want about 107s", got)
	}
	if commitAllowance(-1) != 0 || commitAllowance(0) != 0 {
		t.Error("an unknown size gets a commit allowance")
	}
	w := newCopyWatches(100*time.Millisecond, nil)
	ctx, c := w.watch(context.Background())
	open := make(chan struct{})
	close(open)
	// 2 MB at 10 MB/s: 200ms more than the idle timeout once read to its end.
	big := &gateSource{gate: open}
	is, err := c.wrap(gateRef{src: big}).NewImageSource(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := is.GetBlob(ctx, types.BlobInfo{Digest: blobA, Size: 2 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err != nil {
		t.Fatal(err)
	}
	read := time.Now()
	if err := cutWithin(ctx, c, 250*time.Millisecond); err != nil {
		t.Fatalf("cut %s after the last byte of a 2 MB blob, within its commit allowance: %v", time.Since(read), err)
	}
	if err := cutWithin(ctx, c, 2*time.Second); err == nil {
		t.Fatal("a commit far past its allowance was not cut")
	}
}

// A Read in progress is the source's side (the puller cuts it on its own): however long
// it takes, the watch does not cut the copy.
func TestWatchLeavesASlowSourceAlone(t *testing.T) {
	w := newCopyWatches(50*time.Millisecond, nil)
	ctx, c := w.watch(context.Background())
	gate := make(chan struct{})
	rc := openStream(t, ctx, c, &gateSource{gate: gate}, blobA)
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		done <- err
	}()
	if err := cutWithin(ctx, c, 500*time.Millisecond); err != nil {
		t.Fatalf("cut during a source Read: %v", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	if err := c.end(); err != nil {
		t.Errorf("end: %v", err)
	}
}

// A copy with no stream of its own, while another copy may be waiting for a slot of the
// run's blob semaphore (here: no semaphore to ask), is not cut while another copy's stream
// is open and being read, nor within the idle timeout of that stream's closing; once the
// whole run has been quiet for it, it is.
func TestWatchBetweenBlobs(t *testing.T) {
	const idle = 150 * time.Millisecond
	w := newCopyWatches(idle, nil)
	octx, other := w.watch(context.Background())
	ctx, c := w.watch(context.Background())
	gate := make(chan struct{})
	rc := openStream(t, octx, other, &gateSource{gate: gate}, blobA) // in a source Read: never cut
	go func() { _, _ = io.ReadAll(rc) }()
	if err := cutWithin(ctx, c, 4*idle); err != nil {
		t.Fatalf("a copy between blobs was cut while another stream of the run was open: %v", err)
	}
	close(gate)
	time.Sleep(idle / 2)
	_ = rc.Close()
	closed := time.Now()
	if err := other.end(); err != nil { // its copy is done
		t.Errorf("the other copy, whose stream closed: %v", err)
	}
	err := cutWithin(ctx, c, 20*idle)
	if err == nil {
		t.Fatal("a copy with no stream, in a run with none open, was not cut")
	}
	if since := time.Since(closed); since < idle {
		t.Errorf("cut %s after the run's last stream closed, within the idle timeout %s", since, idle)
	}
	if strings.Contains(err.Error(), "blob") {
		t.Errorf("a stall between blobs names a blob: %q", err)
	}
}

// end of a copy that left a stream open takes it out of the run's count (else every
// later copy between blobs would never be cut), and a later Close does not count it twice.
func TestWatchEndDetachesStreams(t *testing.T) {
	w := newCopyWatches(time.Hour, nil)
	ctx, c := w.watch(context.Background())
	open := make(chan struct{})
	close(open)
	rc1 := openStream(t, ctx, c, &gateSource{gate: open}, blobA)
	_ = openStream(t, ctx, c, &gateSource{gate: open}, blobA)
	if n := w.open.Load(); n != 2 {
		t.Fatalf("%d streams open, want 2", n)
	}
	_ = rc1.Close()
	if err := c.end(); err != nil {
		t.Fatalf("end: %v", err)
	}
	_ = rc1.Close()
	if n := w.open.Load(); n != 0 {
		t.Errorf("%d streams counted open after the copy ended, want 0", n)
	}
	if ctx.Err() == nil {
		t.Error("the copy's context is still live after end")
	}
}

// A typo (1ms for 1m) would cut every transfer and spend the run retrying: refused.
func TestWithIdleTimeoutBounds(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, time.Millisecond, 999 * time.Millisecond} {
		if err := WithIdleTimeout(d)(&options{}); err == nil || !strings.Contains(err.Error(), "at least 1s") {
			t.Errorf("WithIdleTimeout(%s): %v, want refused (at least 1s)", d, err)
		}
	}
	for _, d := range []time.Duration{MinIdleTimeout, time.Minute} {
		o := &options{}
		if err := WithIdleTimeout(d)(o); err != nil || o.idleTimeout != d {
			t.Errorf("WithIdleTimeout(%s): %v, idle %s", d, err, o.idleTimeout)
		}
	}
}

// In a busy run (another copy's stream open and read) a copy with no stream whose target
// request hangs is cut once no copy can be waiting for a blob slot; while one is waiting
// (the semaphore full, a waiter queued), it is not.
func TestWatchBetweenBlobsInABusyRun(t *testing.T) {
	const idle = 100 * time.Millisecond
	slots := semaphore.NewWeighted(2)
	w := newCopyWatches(idle, slots)
	octx, other := w.watch(context.Background())
	defer other.end()
	gate := make(chan struct{})
	defer close(gate)
	rc := openStream(t, octx, other, &gateSource{gate: gate}, blobA) // busy: in a source Read
	go func() { _, _ = io.ReadAll(rc) }()

	// The semaphore full and a copy queued for a slot: the silent copy may be that one.
	if err := slots.Acquire(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	go func() {
		defer close(waiting)
		if err := slots.Acquire(context.Background(), 1); err == nil {
			slots.Release(1)
		}
	}()
	time.Sleep(idle / 4) // the waiter queues
	ctx, c := w.watch(context.Background())
	if err := cutWithin(ctx, c, 5*idle); err != nil {
		t.Fatalf("cut while a copy may be waiting for a blob slot: %v", err)
	}
	slots.Release(2)
	<-waiting
	start := time.Now()
	err := cutWithin(ctx, c, 20*idle)
	if err == nil {
		t.Fatal("a silent copy with no stream was not cut in a busy run with free slots")
	}
	t.Logf("cut %s after the slots freed", time.Since(start).Round(time.Millisecond))
}

// Every request the copy makes to the target is a sign of life: a registry that answers
// 429 with Retry-After, and is asked again after the wait (up to the idle timeout more,
// retryWait), is not a stall; once the requests stop, the copy is cut.
func TestWatchTargetRequestsAreLife(t *testing.T) {
	const idle = 100 * time.Millisecond
	w := newCopyWatches(idle, semaphore.NewWeighted(4))
	ctx, c := w.watch(context.Background())
	open := make(chan struct{})
	close(open)
	rc := openStream(t, ctx, c, &gateSource{gate: open}, blobA) // open, never read: the HEAD and POST first
	defer rc.Close()
	proxy := c.proxy(func(*url.URL) (*url.URL, error) { return nil, nil })
	u, _ := url.Parse("https://registry.example/v2/")
	stop := time.After(8 * idle)
	tick := time.NewTicker(idle * 3 / 2) // longer than the idle timeout, within its retryWait
	defer tick.Stop()
asking:
	for {
		select {
		case <-tick.C:
			_, _ = proxy(u) // the throttled request, asked again
		case <-stop:
			break asking
		case <-ctx.Done():
			t.Fatalf("cut while the target was being asked: %v", context.Cause(ctx))
		}
	}
	if err := cutWithin(ctx, c, 20*idle); err == nil {
		t.Fatal("not cut once the requests stopped")
	}
}
