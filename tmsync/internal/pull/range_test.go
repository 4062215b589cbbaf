package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
)

// testChunk has private.ImageSourceChunk's shape.
type testChunk struct{ Offset, Length uint64 }

// rangedSource is a fakeSource with a ranged fetch. Each GetBlobAt call takes the next
// rstep; the body starts at the asked offset and its step's failAt counts from the
// blob's first byte.
type rangedSource struct {
	*fakeSource
	supports bool

	rmu     sync.Mutex
	rsteps  []rstep
	offsets []uint64 // every GetBlobAt offset asked
}

type rstep struct {
	step
	wrong    bool  // the bytes after the offset are altered
	longer   bool  // the answer carries one byte more than the blob
	trailing error // sent on the error channel after the stream
}

func (r *rangedSource) SupportsGetBlobAt() bool { return r.supports }

func (r *rangedSource) GetBlobAt(ctx context.Context, info types.BlobInfo, chunks []testChunk) (chan io.ReadCloser, chan error, error) {
	r.rmu.Lock()
	var s rstep
	if len(r.rsteps) > 0 {
		s, r.rsteps = r.rsteps[0], r.rsteps[1:]
	}
	if len(chunks) != 1 || chunks[0].Length != ^uint64(0) {
		r.rmu.Unlock()
		return nil, nil, fmt.Errorf("chunks %v", chunks)
	}
	r.offsets = append(r.offsets, chunks[0].Offset)
	r.rmu.Unlock()
	if s.err != nil {
		return nil, nil, s.err
	}
	b := bytes.Clone(r.blobs[info.Digest])
	if s.wrong {
		for i := chunks[0].Offset; i < uint64(len(b)); i++ {
			b[i] ^= 0x5a
		}
	}
	if s.longer {
		b = append(b, 0)
	}
	streams, errs := make(chan io.ReadCloser), make(chan error)
	body := &fakeBody{ctx: ctx, b: b, off: int64(chunks[0].Offset), s: s.step}
	go func() {
		streams <- body
		close(streams)
		if s.trailing != nil {
			errs <- s.trailing
		}
		close(errs)
	}()
	return streams, errs, nil
}

func newRanged(t *testing.T, steps []step, rsteps ...rstep) (*rangedSource, types.BlobInfo, []byte) {
	f, info, want := newFake(t, steps...)
	return &rangedSource{fakeSource: f, supports: true, rsteps: rsteps}, info, want
}

func pullRanged(t *testing.T, p *Puller, r *rangedSource, info types.BlobInfo) ([]byte, error) {
	t.Helper()
	return pullRef(t, p, rangedRef{src: r}, info)
}

type rangedRef struct {
	fakeRef
	src *rangedSource
}

func (r rangedRef) NewImageSource(context.Context, *types.SystemContext) (types.ImageSource, error) {
	return r.src, nil
}

var errBadPartial = errors.New("400 Bad Request") // what private.BadPartialRequestError says

func TestRangeResume(t *testing.T) {
	cut := func(at int64) step { return step{failAt: at, failErr: io.ErrUnexpectedEOF} }
	for _, tc := range []struct {
		name       string
		steps      []step  // GetBlob answers
		rsteps     []rstep // GetBlobAt answers
		noSupport  bool
		wantErr    bool
		gets       int
		offsets    []uint64
		resumes    int64
		fallbacks  int64
		refetched  int64
		vendorMore int64 // vendor bytes beyond the blob's size
	}{
		{name: "cut mid-body", steps: []step{cut(40_000)}, gets: 1, offsets: []uint64{40_000}, resumes: 1},
		{name: "cut at byte 0: no Range", steps: []step{cut(0)}, gets: 2},
		{name: "cut at the last byte", steps: []step{{failAt: 99_999, failErr: errReset}}, gets: 1, offsets: []uint64{99_999}, resumes: 1},
		{name: "cut after the last byte: nothing to fetch", steps: []step{cut(100_000)}, gets: 1},
		{name: "several cuts, a 503 on a resume", steps: []step{cut(10_000)},
			rsteps: []rstep{{step: cut(30_000)}, {step: step{err: err503}}, {step: cut(70_000)}},
			gets:   1, offsets: []uint64{10_000, 30_000, 30_000, 70_000}, resumes: 3},
		{name: "a resume cut at its first byte", steps: []step{cut(50_000)}, rsteps: []rstep{{step: cut(50_000)}},
			gets: 1, offsets: []uint64{50_000, 50_000}, resumes: 2},
		{name: "a resume stalls", steps: []step{cut(20_000)}, rsteps: []rstep{{step: step{failAt: 60_000, stall: 5 * time.Second}}},
			gets: 1, offsets: []uint64{20_000, 60_000}, resumes: 2},
		{name: "Range refused (400): refetch", steps: []step{cut(40_000)}, rsteps: []rstep{{step: step{err: errBadPartial}}},
			gets: 2, offsets: []uint64{40_000}, fallbacks: 1, refetched: 40_000, vendorMore: 40_000},
		{name: "Range not satisfiable (416): refetch", steps: []step{cut(40_000)},
			rsteps: []rstep{{step: step{err: docker.UnexpectedHTTPStatusError{StatusCode: 416}}}},
			gets:   2, offsets: []uint64{40_000}, fallbacks: 1, refetched: 40_000, vendorMore: 40_000},
		{name: "refused once, then every resume refetches", steps: []step{cut(40_000), cut(70_000)}, rsteps: []rstep{{step: step{err: errBadPartial}}},
			gets: 3, offsets: []uint64{40_000}, fallbacks: 1, refetched: 40_000 + 70_000, vendorMore: 110_000},
		{name: "SupportsGetBlobAt false: refetch", noSupport: true, steps: []step{cut(40_000)},
			gets: 2, fallbacks: 1, refetched: 40_000, vendorMore: 40_000},
		{name: "an error after a whole stream: the bytes are all there", steps: []step{cut(40_000)},
			rsteps: []rstep{{trailing: errors.New("too many parts returned by the server")}},
			gets:   1, offsets: []uint64{40_000}, resumes: 1, fallbacks: 1},
		{name: "an error after a short stream: refetch", steps: []step{cut(40_000)},
			rsteps: []rstep{{step: step{failAt: 70_000, failErr: io.EOF}, trailing: errors.New("invalid number of chunks returned by the server")}},
			gets:   2, offsets: []uint64{40_000}, resumes: 1, fallbacks: 1, refetched: 70_000, vendorMore: 70_000},
		{name: "a short stream without an error: resumed again", steps: []step{cut(40_000)},
			rsteps: []rstep{{step: step{failAt: 70_000, failErr: io.EOF}}},
			gets:   1, offsets: []uint64{40_000, 70_000}, resumes: 2},
		{name: "an answer longer than the blob fails", steps: []step{cut(40_000)}, rsteps: []rstep{{longer: true}},
			wantErr: true, gets: 1, offsets: []uint64{40_000}, resumes: 1},
		{name: "a failure that persists", steps: []step{cut(40_000)},
			rsteps:  []rstep{{step: step{err: err503}}, {step: step{err: err503}}, {step: step{err: err503}}, {step: step{err: err503}}},
			wantErr: true, gets: 1, offsets: []uint64{40_000, 40_000, 40_000, 40_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, info, want := newRanged(t, tc.steps, tc.rsteps...)
			r.supports = !tc.noSupport
			p, _ := New(fastOptions(Options{Retries: 3}))
			start := time.Now()
			got, err := pullRanged(t, p, r, info)
			if tc.wantErr != (err != nil) {
				t.Fatalf("err %v", err)
			}
			if !tc.wantErr && !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, not the blob", len(got))
			}
			s := p.Stats()
			if r.gets[info.Digest] != tc.gets || fmt.Sprint(r.offsets) != fmt.Sprint(tc.offsets) {
				t.Errorf("%d GetBlob, GetBlobAt at %v; want %d, %v", r.gets[info.Digest], r.offsets, tc.gets, tc.offsets)
			}
			if s.RangeResumes != tc.resumes || s.RangeFallbacks != tc.fallbacks || s.RefetchedBytes != tc.refetched {
				t.Errorf("stats %+v; want %d resumes, %d fallbacks, %d refetched", s, tc.resumes, tc.fallbacks, tc.refetched)
			}
			if !tc.wantErr && s.VendorBytes != int64(len(want))+tc.vendorMore {
				t.Errorf("vendor bytes %d, want %d + %d", s.VendorBytes, len(want), tc.vendorMore)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("took %s: a stall was not cut", time.Since(start))
			}
		})
	}
}

// Wrong bytes after the resume point are passed on (copy.Image's digest check refuses
// them) but never stored: the store verifies the digest of the tee.
func TestRangeWrongBytesNotStored(t *testing.T) {
	st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, info, want := newRanged(t, []step{{failAt: 40_000, failErr: io.ErrUnexpectedEOF}}, rstep{wrong: true})
	p, _ := New(fastOptions(Options{Store: st, Keep: func(digest.Digest) bool { return true }}))
	got, err := pullRanged(t, p, r, info)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) || !bytes.Equal(got[:40_000], want[:40_000]) || digest.FromBytes(got) == info.Digest {
		t.Fatal("the fake did not alter the bytes after the resume")
	}
	if _, ok := st.Has(info.Digest); ok || p.Stats().Kept != 0 {
		t.Fatal("a blob resumed with wrong bytes was stored")
	}
	// The same blob, resumed with the right bytes, is stored.
	r.rsteps = nil
	r.steps = []step{{failAt: 40_000, failErr: io.ErrUnexpectedEOF}}
	if got, err := pullRanged(t, p, r, info); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("second pull: %v", err)
	}
	if _, ok := st.Has(info.Digest); !ok {
		t.Fatal("a blob resumed with the right bytes was not stored")
	}
}

// Shapes of GetBlobAt that rangeGetter must refuse.
type (
	noSupports struct{}
	intChunk   struct{ Offset, Length int64 }
	threeChunk struct{ Offset, Length, Flags uint64 }
	otherNames struct{ Off, Len uint64 }
	wrongChunk struct{}
	wrongCount struct{}
	wrongNames struct{}
	wrongOut   struct{}
	notSlice   struct{}
	supportsFn struct{}
	good       struct{}
)

func (noSupports) GetBlobAt(context.Context, types.BlobInfo, []testChunk) (chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}
func (wrongChunk) SupportsGetBlobAt() bool { return true }
func (wrongChunk) GetBlobAt(context.Context, types.BlobInfo, []intChunk) (chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}
func (wrongCount) SupportsGetBlobAt() bool { return true }
func (wrongCount) GetBlobAt(context.Context, types.BlobInfo, []threeChunk) (chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}
func (wrongNames) SupportsGetBlobAt() bool { return true }
func (wrongNames) GetBlobAt(context.Context, types.BlobInfo, []otherNames) (chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}
func (wrongOut) SupportsGetBlobAt() bool { return true }
func (wrongOut) GetBlobAt(context.Context, types.BlobInfo, []testChunk) (<-chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}
func (notSlice) SupportsGetBlobAt() bool { return true }
func (notSlice) GetBlobAt(context.Context, types.BlobInfo, testChunk) (chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}
func (supportsFn) SupportsGetBlobAt(context.Context) bool { return true }
func (good) SupportsGetBlobAt() bool                      { return true }
func (good) GetBlobAt(context.Context, types.BlobInfo, []testChunk) (chan io.ReadCloser, chan error, error) {
	return nil, nil, nil
}

func TestRangeGetterShapes(t *testing.T) {
	for _, tc := range []struct {
		src  any
		want string
	}{
		{nil, "no source"},
		{struct{}{}, "no SupportsGetBlobAt"},
		{noSupports{}, "no SupportsGetBlobAt"},
		{wrongChunk{}, "is not {Offset, Length uint64}"},
		{wrongCount{}, "not a struct of two fields"},
		{wrongNames{}, "is not {Offset, Length uint64}"},
		{wrongOut{}, "unexpected signature"},
		{notSlice{}, "unexpected signature"},
		{supportsFn{}, "SupportsGetBlobAt has an unexpected signature"},
		{&rangedSource{supports: false}, "SupportsGetBlobAt is false"},
		{good{}, ""},
		{&rangedSource{supports: true}, ""},
	} {
		fn, err := rangeGetter(tc.src)
		if tc.want == "" {
			if err != nil || fn == nil {
				t.Errorf("%T: %v", tc.src, err)
			}
			continue
		}
		if err == nil || fn != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T: %v, want an error with %q", tc.src, err, tc.want)
		}
	}
}

// TestRangeGetterPinsContainersImage reaches GetBlobAt of the real docker source (a
// plain HTTP registry stand-in: a ping, a manifest and one blob): if a containers/image
// update changes its shape, every resume would quietly refetch; this fails instead. It
// also pins how a 200 answer (Range ignored) is told from a 206.
func TestRangeGetterPinsContainersImage(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	bd := digest.FromBytes(blob)
	man := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, bd, len(blob))
	var ignoreRange bool
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		switch r.URL.Path {
		case "/v2/":
		case "/v2/app/manifests/1.0":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			_, _ = io.WriteString(w, man)
		case "/v2/app/blobs/" + bd.String():
			mu.Lock()
			if ignoreRange {
				r.Header.Del("Range")
			}
			mu.Unlock()
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(srv.URL, "http://") + "/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := docker.NewReference(named)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, err := ref.NewImageSource(ctx, &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	get, err := rangeGetter(src)
	if err != nil {
		t.Fatalf("containers/image's docker source (%T) has no usable GetBlobAt: %v; Range resumes would all fall back", src, err)
	}
	for _, ignore := range []bool{false, true} {
		mu.Lock()
		ignoreRange = ignore
		mu.Unlock()
		for _, off := range []uint64{1, 40_000, uint64(len(blob) - 1)} {
			streams, errs, err := get(ctx, types.BlobInfo{Digest: bd, Size: int64(len(blob))}, off)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := firstStream(ctx, streams, errs)
			if err != nil {
				t.Fatal(err)
			}
			if skippedByClient(rc) != ignore {
				t.Errorf("Range ignored %v, offset %d: skippedByClient says %v", ignore, off, !ignore)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err2 := drainBlobAt(streams, errs); err == nil {
				err = err2
			}
			if err != nil || !bytes.Equal(got, blob[off:]) {
				t.Errorf("Range ignored %v, offset %d: %d bytes, %v", ignore, off, len(got), err)
			}
		}
	}
}

// TestBlobRetrySaysItsWait: a body cut again before any new byte waits the backoff
// before the next resume, and its Retry says how long (the first resume is immediate).
func TestBlobRetrySaysItsWait(t *testing.T) {
	cut := func(at int64) step { return step{failAt: at, failErr: io.ErrUnexpectedEOF} }
	r, info, want := newRanged(t, []step{cut(50_000)}, rstep{step: cut(50_000)}, rstep{step: cut(50_000)})
	var mu sync.Mutex
	var waits []time.Duration
	opts := fastOptions(Options{Retries: 5, OnRetry: func(rt Retry) {
		mu.Lock()
		waits = append(waits, rt.Wait)
		mu.Unlock()
	}})
	opts.Backoff, opts.MaxBackoff = 40*time.Millisecond, 80*time.Millisecond
	p, _ := New(opts)
	start := time.Now()
	got, err := pullRanged(t, p, r, info)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%v, %d bytes", err, len(got))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 3 || waits[0] != 0 || waits[1] <= 0 || waits[2] <= waits[1]/2 {
		t.Fatalf("waits said %v: want 0, then the backoff (about 40 ms, then 80 ms)", waits)
	}
	if took := time.Since(start); took < waits[1]+waits[2] {
		t.Errorf("took %s, less than the waits said (%s + %s)", took, waits[1], waits[2])
	}
}
