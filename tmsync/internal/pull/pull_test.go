package pull

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/distribution/registry/api/errcode"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
)

// fakeSource is a narrow ImageSource whose GetBlob answers follow a script: each call
// takes the next step (an error before the body, or a body that fails after some bytes
// or stalls), then serves whole bodies.
type fakeSource struct {
	types.ImageSource // nil: only the methods below are used
	ref               types.ImageReference
	blobs             map[digest.Digest][]byte

	mu     sync.Mutex
	steps  []step
	gets   map[digest.Digest]int
	closed int // Close calls
}

type step struct {
	err     error         // returned by GetBlob
	failAt  int64         // body fails with failErr after this many bytes (when failErr set)
	failErr error         //
	stall   time.Duration // body stops after failAt bytes for this long (when set)
}

func (f *fakeSource) Reference() types.ImageReference { return f.ref }
func (f *fakeSource) Close() error {
	f.mu.Lock()
	f.closed++
	f.mu.Unlock()
	return nil
}
func (f *fakeSource) HasThreadSafeGetBlob() bool { return true }

func (f *fakeSource) GetBlob(ctx context.Context, info types.BlobInfo, _ types.BlobInfoCache) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	f.gets[info.Digest]++
	var s step
	if len(f.steps) > 0 {
		s, f.steps = f.steps[0], f.steps[1:]
	}
	f.mu.Unlock()
	if s.err != nil {
		return nil, 0, s.err
	}
	b, ok := f.blobs[info.Digest]
	if !ok {
		return nil, 0, docker.UnexpectedHTTPStatusError{StatusCode: 404}
	}
	return &fakeBody{ctx: ctx, b: b, s: s}, int64(len(b)), nil
}

type fakeBody struct {
	ctx context.Context
	b   []byte
	off int64
	s   step
}

func (r *fakeBody) Read(p []byte) (int, error) {
	if r.ctx.Err() != nil {
		return 0, r.ctx.Err()
	}
	if (r.s.failErr != nil || r.s.stall > 0) && r.off >= r.s.failAt {
		if r.s.stall > 0 {
			select {
			case <-time.After(r.s.stall):
				r.s.stall = 0
			case <-r.ctx.Done():
				return 0, r.ctx.Err()
			}
		} else {
			return 0, r.s.failErr
		}
	}
	if r.off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	end := int64(len(r.b))
	if (r.s.failErr != nil || r.s.stall > 0) && r.s.failAt > r.off {
		end = min(end, r.s.failAt)
	}
	end = min(end, r.off+int64(len(p)), r.off+32768)
	n := copy(p, r.b[r.off:end])
	r.off += int64(n)
	return n, nil
}
func (r *fakeBody) Close() error { return nil }

type fakeRef struct {
	types.ImageReference
	src *fakeSource
}

func (r fakeRef) NewImageSource(context.Context, *types.SystemContext) (types.ImageSource, error) {
	return r.src, nil
}
func (r fakeRef) DockerReference() reference.Named {
	n, _ := reference.ParseNormalizedNamed("vendor.example/app")
	return n
}

func newFakeSeeded(t *testing.T, seed uint64, steps ...step) (*fakeSource, types.BlobInfo, []byte) {
	t.Helper()
	b := make([]byte, 100_000)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	d := digest.FromBytes(b)
	f := &fakeSource{blobs: map[digest.Digest][]byte{d: b}, steps: steps, gets: map[digest.Digest]int{}}
	return f, types.BlobInfo{Digest: d, Size: int64(len(b))}, b
}

func newFake(t *testing.T, steps ...step) (*fakeSource, types.BlobInfo, []byte) {
	return newFakeSeeded(t, 1, steps...)
}

func fastOptions(o Options) Options {
	o.Backoff, o.MaxBackoff = time.Millisecond, 4*time.Millisecond
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 200 * time.Millisecond
	}
	return o
}

func pullBlob(t *testing.T, p *Puller, f *fakeSource, info types.BlobInfo) ([]byte, error) {
	t.Helper()
	return pullRef(t, p, fakeRef{src: f}, info)
}

// pullRef reads blob info through p from the source ref opens.
func pullRef(t *testing.T, p *Puller, ref types.ImageReference, info types.BlobInfo) ([]byte, error) {
	t.Helper()
	src, err := p.Wrap(ref).NewImageSource(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	rc, _, err := src.GetBlob(context.Background(), info, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

var (
	err503   = docker.UnexpectedHTTPStatusError{StatusCode: 503}
	errReset = fmt.Errorf("read tcp: %w", syscall.ECONNRESET)
)

func TestBlobRetries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []step
		wantErr bool
		gets    int
	}{
		{"clean", nil, false, 1},
		{"503 then ok", []step{{err: err503}}, false, 2},
		{"429 errcode", []step{{err: errcode.Errors{errcode.Error{Code: errcode.ErrorCodeTooManyRequests}}}}, false, 2},
		{"too many requests", []step{{err: fmt.Errorf("fetching blob: %w", docker.ErrTooManyRequests)}}, false, 2},
		{"reset before answer", []step{{err: errReset}}, false, 2},
		{"cut mid-body", []step{{failAt: 40_000, failErr: io.ErrUnexpectedEOF}}, false, 2},
		{"cut at byte 0", []step{{failAt: 0, failErr: io.ErrUnexpectedEOF}}, false, 2},
		{"cut at the last byte", []step{{failAt: 99_999, failErr: errReset}}, false, 2},
		{"cut, then 503 on resume, then cut", []step{{failAt: 10_000, failErr: io.ErrUnexpectedEOF}, {err: err503}, {failAt: 70_000, failErr: io.ErrUnexpectedEOF}}, false, 4},
		{"stall", []step{{failAt: 50_000, stall: 5 * time.Second}}, false, 2},
		{"stall before any byte", []step{{failAt: 0, stall: 5 * time.Second}}, false, 2},
		{"404 is not retried", []step{{err: docker.UnexpectedHTTPStatusError{StatusCode: 404}}}, true, 1},
		{"401 is not retried", []step{{err: docker.ErrUnauthorizedForCredentials{Err: errors.New("no")}}}, true, 1},
		{"denied is not retried", []step{{err: errcode.Error{Code: errcode.ErrorCodeDenied}}}, true, 1},
		{"a failure that persists", []step{{err: err503}, {err: err503}, {err: err503}, {err: err503}}, true, 4},
		{"cuts without progress give up", []step{{failAt: 0, failErr: errReset}, {failAt: 0, failErr: errReset}, {failAt: 0, failErr: errReset}, {failAt: 0, failErr: errReset}}, true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, info, want := newFake(t, tc.steps...)
			p, _ := New(fastOptions(Options{Retries: 3}))
			start := time.Now()
			got, err := pullBlob(t, p, f, info)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes, not the blob", len(got))
				}
			}
			if f.gets[info.Digest] != tc.gets {
				t.Fatalf("%d GetBlob calls, want %d", f.gets[info.Digest], tc.gets)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("took %s: a stall was not cut", time.Since(start))
			}
		})
	}
}

func TestIdleTimerIgnoresSlowConsumer(t *testing.T) {
	f, info, want := newFake(t)
	p, _ := New(fastOptions(Options{IdleTimeout: 50 * time.Millisecond}))
	src, _ := p.Wrap(fakeRef{src: f}).NewImageSource(context.Background(), nil)
	rc, _, err := src.GetBlob(context.Background(), info, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 30_000)
	for {
		time.Sleep(120 * time.Millisecond) // the target is slow: not a stall of the vendor
		n, err := rc.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) || f.gets[info.Digest] != 1 || p.Stats().IdleCuts != 0 {
		t.Fatalf("slow consumer: %d gets, %d idle cuts", f.gets[info.Digest], p.Stats().IdleCuts)
	}
}

func TestCallerCancelIsNotRetried(t *testing.T) {
	f, info, _ := newFake(t, step{failAt: 10, stall: time.Hour})
	p, _ := New(fastOptions(Options{IdleTimeout: time.Hour}))
	src, _ := p.Wrap(fakeRef{src: f}).NewImageSource(context.Background(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rc, _, err := src.GetBlob(ctx, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	if !errors.Is(err, context.DeadlineExceeded) || f.gets[info.Digest] != 1 {
		t.Fatalf("err %v after %d gets", err, f.gets[info.Digest])
	}
}

func TestKeepTeesIntoStore(t *testing.T) {
	st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A kept blob, cut once on the way: stored whole, then served from the store.
	f, info, want := newFake(t, step{failAt: 30_000, failErr: io.ErrUnexpectedEOF})
	p, _ := New(fastOptions(Options{Store: st, Keep: func(d digest.Digest) bool { return d == info.Digest }}))
	for i := range 3 {
		got, err := pullBlob(t, p, f, info)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("pull %d: %v", i, err)
		}
	}
	if f.gets[info.Digest] != 2 { // the first fetch and its resume; then the store
		t.Fatalf("%d vendor gets, want 2", f.gets[info.Digest])
	}
	if s := p.Stats(); s.StoreHits != 2 || s.Kept != 1 || s.RefetchedBytes != 30_000 {
		t.Fatalf("stats %+v", s)
	}

	// A blob not kept is streamed, not stored.
	g, ginfo, _ := newFakeSeeded(t, 2)
	q, _ := New(fastOptions(Options{Store: st}))
	for range 2 {
		if _, err := pullBlob(t, q, g, ginfo); err != nil {
			t.Fatal(err)
		}
	}
	if g.gets[ginfo.Digest] != 2 {
		t.Fatalf("a blob not kept was fetched %d times, want 2 (streamed each time)", g.gets[ginfo.Digest])
	}

	// A kept blob whose reader leaves half-way (the target failed its upload) is read on
	// to the store in the background; one left before its first byte is not.
	st2, _ := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	defer st2.Close()
	h, hinfo, hwant := newFake(t)
	r, _ := New(fastOptions(Options{Store: st2, Keep: func(digest.Digest) bool { return true }}))
	src, _ := r.Wrap(fakeRef{src: h}).NewImageSource(context.Background(), nil)
	rc, _, _ := src.GetBlob(context.Background(), hinfo, nil)
	if n, err := io.ReadFull(rc, make([]byte, 1000)); n != 1000 || err != nil {
		t.Fatal(n, err)
	}
	rc.Close()
	src.Close()
	r.Wait()
	if _, ok := st2.Has(hinfo.Digest); !ok {
		t.Fatal("a kept blob left half-way was not finished into the store")
	}
	if s := r.Stats(); s.Finished != 1 || s.FinishedBytes != int64(len(hwant))-1000 {
		t.Fatalf("finished %d blobs, %d bytes; want 1, %d", s.Finished, s.FinishedBytes, len(hwant)-1000)
	}
	if got, err := pullBlob(t, r, h, hinfo); err != nil || !bytes.Equal(got, hwant) || h.gets[hinfo.Digest] != 1 {
		t.Fatalf("after the background read: %v, %d vendor gets (want 1: the download went on)", err, h.gets[hinfo.Digest])
	}
	e, einfo, _ := newFakeSeeded(t, 3)
	esrc, _ := r.Wrap(fakeRef{src: e}).NewImageSource(context.Background(), nil)
	rc, _, err = esrc.GetBlob(context.Background(), einfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	esrc.Close()
	r.Wait()
	if _, ok := st2.Has(einfo.Digest); ok || e.gets[einfo.Digest] > 1 {
		t.Fatalf("a blob left before its first byte was read on (%d gets)", e.gets[einfo.Digest])
	}

	// Wrong bytes from the vendor are not stored (the store verifies).
	bad, binfo, _ := newFakeSeeded(t, 4)
	bad.blobs[binfo.Digest] = append([]byte{0}, bad.blobs[binfo.Digest][1:]...)
	if _, err := pullBlob(t, r, bad, binfo); err != nil {
		t.Fatal(err) // the wrapper streams what it gets; copy.Image's own digest check refuses it
	}
	if _, ok := st2.Has(binfo.Digest); ok {
		t.Fatal("a blob with the wrong digest was stored")
	}
}

// TestBackgroundFinishWaitedFor: while a kept blob left part-way is being read on into the
// store (slowly: the vendor pauses), the image's retry asks for it again. The retry waits
// for that read and then reads the store: the vendor is asked once. The source the blob
// was left on is closed only once the background read is done.
func TestBackgroundFinishWaitedFor(t *testing.T) {
	st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, info, want := newFake(t, step{failAt: 50_000, stall: 300 * time.Millisecond})
	p, _ := New(fastOptions(Options{Store: st, Keep: func(digest.Digest) bool { return true }, IdleTimeout: 5 * time.Second}))
	defer p.Close()
	src, _ := p.Wrap(fakeRef{src: f}).NewImageSource(context.Background(), nil)
	rc, _, err := src.GetBlob(context.Background(), info, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	src.Close()
	f.mu.Lock()
	closedEarly := f.closed
	f.mu.Unlock()
	if closedEarly != 0 {
		t.Errorf("the source was closed while its blob was still being read on")
	}
	start := time.Now()
	got, err := pullBlob(t, p, f, info) // the retry, while the vendor pauses
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("retry: %d bytes, %v", len(got), err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("the retry took %s: it did not wait for the read in the background", d)
	}
	p.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gets[info.Digest] != 1 {
		t.Errorf("%d vendor gets, want 1", f.gets[info.Digest])
	}
	if f.closed != 1 { // the left source, once its background read is done
		t.Errorf("%d source closes, want 1", f.closed)
	}
	if s := p.Stats(); s.Finished != 1 || s.StoreHits != 1 {
		t.Errorf("stats %+v: want 1 finished, 1 store hit", s)
	}
}

func TestConcurrentPullsCoalesce(t *testing.T) {
	st, _ := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	defer st.Close()
	f, info, want := newFake(t)
	p, _ := New(fastOptions(Options{Store: st, Keep: func(digest.Digest) bool { return true }}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := pullBlob(t, p, f, info)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("pull: %v", err)
			}
		}()
	}
	wg.Wait()
	if f.gets[info.Digest] != 1 {
		t.Fatalf("%d vendor gets for 8 concurrent pulls of one kept blob", f.gets[info.Digest])
	}
}

func TestRetryable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{docker.UnexpectedHTTPStatusError{StatusCode: 500}, true},
		{fmt.Errorf("fetching blob: %w", docker.UnexpectedHTTPStatusError{StatusCode: 502}), true},
		{docker.UnexpectedHTTPStatusError{StatusCode: 429}, true},
		{docker.UnexpectedHTTPStatusError{StatusCode: 403}, false},
		{errcode.Error{Code: errcode.ErrorCodeUnavailable}, true},
		{errcode.Error{Code: errcode.ErrorCodeUnknown}, true},
		{errcode.Error{Code: errcode.ErrorCodeUnauthorized}, false},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("x: %w", syscall.ECONNREFUSED), true},
		{errors.New("manifest unknown"), false},
		{context.Canceled, false},
		// A certificate that does not verify, as a ping or a GET meets it (a url.Error
		// is a net.Error): not retried.
		{&url.Error{Op: "Get", URL: "https://vendor.example/v2/", Err: x509.UnknownAuthorityError{}}, false},
		{&url.Error{Op: "Get", URL: "https://vendor.example/v2/", Err: x509.HostnameError{Host: "vendor.example"}}, false},
		{&url.Error{Op: "Get", URL: "https://vendor.example/v2/", Err: &tls.CertificateVerificationError{Err: errors.New("expired")}}, false},
		{&url.Error{Op: "Get", URL: "https://vendor.example/v2/", Err: syscall.ECONNRESET}, true},
	} {
		if got := retryable(ctx, tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if retryable(cancelled, io.ErrUnexpectedEOF) {
		t.Error("retried after the caller cancelled")
	}
}

// After Close (twice is harmless: the engine closes on an interruption and again at the
// end), the Puller still serves, and a kept blob left part-way is dropped, not read on.
func TestNoBackgroundAfterClose(t *testing.T) {
	st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, info, want := newFake(t)
	p, _ := New(fastOptions(Options{Store: st, Keep: func(digest.Digest) bool { return true }}))
	p.Close()
	p.Close()
	src, _ := p.Wrap(fakeRef{src: f}).NewImageSource(context.Background(), nil)
	rc, _, err := src.GetBlob(context.Background(), info, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	src.Close()
	p.Wait()
	if _, ok := st.Has(info.Digest); ok || p.Stats().Finished != 0 {
		t.Fatal("a blob left part-way was read on after the Puller's Close")
	}
	if got, err := pullBlob(t, p, f, info); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after Close: %d bytes, %v", len(got), err)
	}
}

// gatedSource blocks its second GetBlob until release.
type gatedSource struct {
	*fakeSource
	n       int
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (g *gatedSource) GetBlob(ctx context.Context, info types.BlobInfo, c types.BlobInfoCache) (io.ReadCloser, int64, error) {
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	if n == 2 {
		close(g.entered)
		<-g.release
	}
	return g.fakeSource.GetBlob(ctx, info, c)
}

type gatedRef struct {
	fakeRef
	g *gatedSource
}

func (r gatedRef) NewImageSource(context.Context, *types.SystemContext) (types.ImageSource, error) {
	return r.g, nil
}

// TestCloseDuringResumeOpen: the copy closes the reader while its Read in flight is
// inside a resume's GetBlob (the upload failed meanwhile). The body that resume opens is
// not the request Close untied from the copy: the background finish must still be cut by
// the Puller's Close, and nothing stored after it.
func TestCloseDuringResumeOpen(t *testing.T) {
	st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, info, _ := newFake(t,
		step{failAt: 1000, failErr: errReset},
		step{failAt: 3000, stall: 3 * time.Second})
	g := &gatedSource{fakeSource: f, entered: make(chan struct{}), release: make(chan struct{})}
	p, _ := New(fastOptions(Options{Store: st, Keep: func(digest.Digest) bool { return true }, IdleTimeout: 10 * time.Second}))
	src, _ := p.Wrap(gatedRef{fakeRef: fakeRef{src: f}, g: g}).NewImageSource(context.Background(), nil)
	rc, _, err := src.GetBlob(context.Background(), info, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		n, err := rc.Read(make([]byte, 500)) // resumes: GetBlob #2 blocks
		t.Logf("read in flight: %d, %v", n, err)
	}()
	<-g.entered
	rc.Close() // the finish path, while the resume's GetBlob is in flight
	src.Close()
	close(g.release)
	<-readDone
	time.Sleep(50 * time.Millisecond) // the background finish reads to the stall
	start := time.Now()
	p.Close()
	d := time.Since(start)
	_, kept := st.Has(info.Digest)
	t.Logf("Puller.Close took %s; kept %v; stats %+v", d, kept, p.Stats())
	if d > time.Second {
		t.Errorf("Puller.Close waited %s for a background read it should have cut", d)
	}
	if kept {
		t.Errorf("the blob was read on into the store after Puller.Close")
	}
}
