package pull_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

// htmlFront is a small registry (httptest) serving one image, vault/app:1.0, whose
// answers can be scripted: a queue of error statuses per kind of request, answered with
// an HTML page (Content-Type text/html) as a CDN or a load balancer in front of a
// registry sends them, not a registry's JSON error list; a cut or a stall of the layer's
// body. containers/image's docker transport talks to it for real.
type htmlFront struct {
	srv                      *httptest.Server
	host                     string
	manifest, config, layer  []byte
	manifestDigest           digest.Digest
	configDesc, layerDesc    imgspec.Descriptor
	mu                       sync.Mutex
	script                   map[string][]int // "GET manifest", "HEAD manifest", "GET blob", "GET range" -> statuses to answer first
	requests                 map[string]int
	cutAt                    int64 // the next full GET of the layer is cut after this many bytes; 0: none
	stallBlob, stallManifest bool  // every layer body stops (a full one after half, a ranged one at once) / every manifest GET sends nothing, until the client leaves
	// extra: every full GET of the layer sends these bytes after it (-1: bytes without
	// end), without a Content-Length, or announcing the longer length with announce;
	// chunked: without a Content-Length even with no extra bytes.
	extra             int64
	announce, chunked bool
}

func startHTMLFront(t *testing.T) *htmlFront {
	t.Helper()
	f := &htmlFront{script: map[string][]int{}, requests: map[string]int{}}
	f.layer = make([]byte, 256<<10)
	_, _ = rand.Read(f.layer)
	f.config = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromBytes(f.layer).String() + `"]}}`)
	f.configDesc = imgspec.Descriptor{MediaType: imgspec.MediaTypeImageConfig, Digest: digest.FromBytes(f.config), Size: int64(len(f.config))}
	f.layerDesc = imgspec.Descriptor{MediaType: imgspec.MediaTypeImageLayer, Digest: digest.FromBytes(f.layer), Size: int64(len(f.layer))}
	m, err := json.Marshal(imgspec.Manifest{Versioned: imgspecs.Versioned{SchemaVersion: 2}, MediaType: imgspec.MediaTypeImageManifest,
		Config: f.configDesc, Layers: []imgspec.Descriptor{f.layerDesc}})
	if err != nil {
		t.Fatal(err)
	}
	f.manifest, f.manifestDigest = m, digest.FromBytes(m)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.host = strings.TrimPrefix(f.srv.URL, "http://")
	return f
}

// answer queues statuses for a kind of request.
func (f *htmlFront) answer(kind string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[kind] = append(f.script[kind], statuses...)
}

func (f *htmlFront) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[kind]
}

func (f *htmlFront) ref(t testing.TB) types.ImageReference { return ref(t, f.host+"/vault/app:1.0") }

// open makes a Puller with opts and opens the front's image through it (closed at the
// test's end).
func (f *htmlFront) open(t *testing.T, opts pull.Options) (*pull.Puller, types.ImageSource) {
	t.Helper()
	p, err := pull.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.Wrap(f.ref(t)).NewImageSource(context.Background(), f.sys())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return p, src
}

func (f *htmlFront) sys() *types.SystemContext {
	return &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}
}

func (f *htmlFront) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		_, _ = w.Write([]byte("{}"))
		return
	}
	kind := r.Method + " "
	switch {
	case strings.HasPrefix(r.URL.Path, "/v2/vault/app/manifests/"):
		kind += "manifest"
	case strings.HasPrefix(r.URL.Path, "/v2/vault/app/blobs/") && r.Header.Get("Range") != "":
		kind += "range"
	case strings.HasPrefix(r.URL.Path, "/v2/vault/app/blobs/"):
		kind += "blob"
	default:
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.requests[kind]++
	status := 0
	if q := f.script[kind]; len(q) > 0 {
		status, f.script[kind] = q[0], q[1:]
	}
	cut := int64(0)
	if kind == "GET blob" && f.cutAt > 0 {
		cut, f.cutAt = f.cutAt, 0
	}
	stallBlob, stallManifest := f.stallBlob, f.stallManifest
	extra, announce, chunked := f.extra, f.announce, f.chunked
	f.mu.Unlock()
	if status != 0 {
		htmlError(w, r, status)
		return
	}
	if strings.HasSuffix(kind, "manifest") {
		if stallManifest {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", imgspec.MediaTypeImageManifest)
		w.Header().Set("Docker-Content-Digest", f.manifestDigest.String())
		w.Header().Set("Content-Length", strconv.Itoa(len(f.manifest)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(f.manifest)
		}
		return
	}
	var body []byte
	switch digest.Digest(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]) {
	case f.configDesc.Digest:
		body = f.config
	case f.layerDesc.Digest:
		body = f.layer
	default:
		http.NotFound(w, r)
		return
	}
	from := int64(0)
	if kind == "GET range" {
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from); err != nil || from >= int64(len(body)) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(body)-1, len(body)))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if (extra != 0 || chunked) && kind == "GET blob" && len(body) == len(f.layer) {
		if announce && extra > 0 {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+int(extra)))
		}
		_, _ = w.Write(body)
		junk := make([]byte, 32<<10)
		for sent := int64(0); extra < 0 || sent < extra; {
			n := int64(len(junk))
			if extra > 0 {
				n = min(n, extra-sent)
			}
			if _, err := w.Write(junk[:n]); err != nil {
				return // the client left
			}
			sent += n
		}
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)-int(from)))
	if from > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	rest := body[from:]
	if cut > 0 {
		_, _ = w.Write(rest[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection is closed mid-body
	}
	if stallBlob && len(body) == len(f.layer) {
		if from == 0 {
			_, _ = w.Write(rest[:len(rest)/2])
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	_, _ = w.Write(rest)
}

// htmlError answers status with an HTML page, as a CDN does. 429 and 503 say
// Retry-After: 0, so that containers/image's own 429 retries (5 tries, honouring
// Retry-After) take no wall time.
func htmlError(w http.ResponseWriter, r *http.Request, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center><hr><center>cdn</center></body></html>\n",
			status, http.StatusText(status), status, http.StatusText(status))
	}
}

// realError makes one request with containers/image's docker transport (no Puller)
// against a front that answers status to it, and returns c/image's error.
func realError(t *testing.T, op string, status int) (*htmlFront, error) {
	t.Helper()
	ctx := context.Background()
	f := startHTMLFront(t)
	var err error
	switch op {
	case "GET manifest":
		f.answer(op, status, status, status, status, status) // 429: c/image tries 5 times
		var src types.ImageSource
		src, err = f.ref(t).NewImageSource(ctx, f.sys())
		if err == nil {
			src.Close()
		}
	case "HEAD manifest":
		f.answer(op, status, status, status, status, status)
		_, err = dockerGetDigest(ctx, f.sys(), f.ref(t))
	case "GET blob":
		src, oerr := f.ref(t).NewImageSource(ctx, f.sys())
		if oerr != nil {
			t.Fatal(oerr)
		}
		defer src.Close()
		f.answer(op, status, status, status, status, status)
		rc, _, gerr := src.GetBlob(ctx, types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
		if rc != nil {
			rc.Close()
		}
		err = gerr
	default:
		t.Fatalf("no op %q", op)
	}
	if err == nil {
		t.Fatalf("%s answered %d: no error", op, status)
	}
	return f, err
}

// TestBlobHeldToDeclaredSize: the manifest (bound by the vendor's attestation) says how
// long each blob is. A source that sends more, with no length (chunked) or an endless
// body, or that announces another length, is stopped: nothing beyond the declared bytes
// reaches the copy (which would upload it to the target), the read ends, and the error
// is not retried. A body without a length that is exactly the blob still reads.
func TestBlobHeldToDeclaredSize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extra    int64
		announce bool
		more     bool // the error is a read past the size, not an announced length
	}{
		{"chunked, 1 MiB more", 1 << 20, false, true},
		{"chunked, one byte more", 1, false, true},
		{"chunked, without end", -1, false, true},
		{"announces 1 MiB more", 1 << 20, true, false},
		{"announces one byte more", 1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := startHTMLFront(t)
			p, src := f.open(t, pull.Options{Retries: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
			f.mu.Lock()
			f.extra, f.announce = tc.extra, tc.announce
			f.mu.Unlock()
			var got int64
			rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
			if err == nil {
				got, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			var se *pull.SizeError
			if !errors.As(err, &se) {
				t.Fatalf("read %d bytes, error %v; want a SizeError", got, err)
			}
			t.Logf("%v", err)
			if se.More != tc.more || se.Declared != f.layerDesc.Size || se.Digest != f.layerDesc.Digest {
				t.Errorf("SizeError %+v", se)
			}
			if got > f.layerDesc.Size {
				t.Errorf("%d bytes reached the reader, the blob has %d", got, f.layerDesc.Size)
			}
			if tc.announce && got != 0 {
				t.Errorf("%d bytes read from a source announcing the wrong length, want 0", got)
			}
			if s := p.Stats(); s.Retries != 0 || s.VendorGets != 1 {
				t.Errorf("%d retries and %d blob requests, want 0 and 1: a wrong length is not asked again", s.Retries, s.VendorGets)
			}
			if ctx.Err() != nil {
				t.Fatal("the read did not end")
			}
		})
	}
	t.Run("chunked, exact", func(t *testing.T) {
		f := startHTMLFront(t)
		_, src := f.open(t, pull.Options{Retries: 1})
		f.mu.Lock()
		f.chunked = true
		f.mu.Unlock()
		rc, _, err := src.GetBlob(context.Background(), types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, f.layer) {
			t.Fatalf("%d bytes, %v", len(got), err)
		}
	})
}

// TestLeftBlobFinishedInBackground: copy.Image leaves a kept blob half-way (its target
// failed the upload) and closes the source. The puller reads the rest into the store on
// the same download (its context untied from the copy's), or, when the copy's context
// ended first and took the download with it, with a Range request for the missing bytes,
// on containers/image's source kept open until then; the image's retry reads the store.
// Closing the Puller stops such a read that has stalled, and nothing is stored.
func TestLeftBlobFinishedInBackground(t *testing.T) {
	half := func(t *testing.T, f *htmlFront, p *pull.Puller, src types.ImageSource, callerGone bool) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, len(f.layer)/2)); err != nil {
			t.Fatal(err)
		}
		if callerGone {
			cancel()
		}
		rc.Close()
		src.Close() // as copy.Image does when it fails
	}
	for _, tc := range []struct {
		name         string
		callerGone   bool
		full, ranged int
	}{
		{"same download", false, 1, 0},
		{"caller gone first", true, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			f := startHTMLFront(t)
			p, src := f.open(t, pull.Options{Store: st, Keep: func(digest.Digest) bool { return true }})
			half(t, f, p, src, tc.callerGone)
			p.Wait()
			if _, ok := st.Has(f.layerDesc.Digest); !ok {
				t.Fatal("the layer left half-way is not in the store")
			}
			s := p.Stats()
			if s.Finished != 1 || s.FinishedBytes != f.layerDesc.Size-f.layerDesc.Size/2 || s.RefetchedBytes != 0 {
				t.Errorf("finished %d, %d bytes, refetched %d; want 1, %d, 0", s.Finished, s.FinishedBytes, s.RefetchedBytes, f.layerDesc.Size-f.layerDesc.Size/2)
			}
			if g, r := f.count("GET blob"), f.count("GET range"); g != tc.full || r != tc.ranged {
				t.Errorf("%d full GETs and %d Range GETs of the layer, want %d and %d", g, r, tc.full, tc.ranged)
			}
			// The retry of the image reads the store.
			src2, err := p.Wrap(f.ref(t)).NewImageSource(context.Background(), f.sys())
			if err != nil {
				t.Fatal(err)
			}
			defer src2.Close()
			rc, _, err := src2.GetBlob(context.Background(), types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, f.layer) || f.count("GET blob") != 1 {
				t.Fatalf("retry: %d bytes, %v, %d full GETs", len(got), err, f.count("GET blob"))
			}
		})
	}
	t.Run("closed while stalled", func(t *testing.T) {
		st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f := startHTMLFront(t)
		p, src := f.open(t, pull.Options{Store: st, Keep: func(digest.Digest) bool { return true }, IdleTimeout: time.Minute})
		f.mu.Lock()
		f.stallBlob = true // the first GET sends half, the Range resume nothing
		f.mu.Unlock()
		half(t, f, p, src, false)
		time.Sleep(100 * time.Millisecond) // the background read is waiting on the stalled download
		start := time.Now()
		p.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Close took %s", d)
		}
		if _, ok := st.Has(f.layerDesc.Digest); ok {
			t.Error("a blob whose background read was stopped is in the store")
		}
		if s := p.Stats(); s.Finished != 0 {
			t.Errorf("finished %d", s.Finished)
		}
	})
}

// TestCloseWhileReadInFlight: net/http's request writer may still be inside a Read of
// the blob when the upload has failed and copy.Image closes the reader. The reader is
// then used by two goroutines: that Read, and the background finish (or, for a blob not
// kept, Close's own clean-up). Neither may touch the reader's state while the other
// does (run with -race: make test-race); Close returns at once, a Read after it fails,
// and the Puller's Close stops what is left. Nothing half-read is stored.
func TestCloseWhileReadInFlight(t *testing.T) {
	for _, kept := range []bool{true, false} {
		t.Run(fmt.Sprintf("kept %v", kept), func(t *testing.T) {
			st, err := blobstore.Open(blobstore.Options{TempParent: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			f := startHTMLFront(t)
			p, src := f.open(t, pull.Options{Store: st, Keep: func(digest.Digest) bool { return kept }, IdleTimeout: time.Minute})
			f.mu.Lock()
			f.stallBlob = true // half the layer, then nothing
			f.mu.Unlock()
			rc, _, err := src.GetBlob(context.Background(), types.BlobInfo{Digest: f.layerDesc.Digest, Size: f.layerDesc.Size}, noCache)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(rc, make([]byte, len(f.layer)/2)); err != nil {
				t.Fatal(err)
			}
			inFlight := make(chan error, 1)
			go func() { // blocks on the stalled body, as net/http's writer would
				_, err := rc.Read(make([]byte, 32<<10))
				inFlight <- err
			}()
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			src.Close()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Close took %s with a Read in flight", d)
			}
			if _, err := rc.Read(make([]byte, 10)); err == nil {
				t.Error("a Read after Close succeeded")
			}
			p.Close() // ends the stalled download, and with it the Read in flight
			select {
			case <-inFlight:
			case <-time.After(5 * time.Second):
				t.Fatal("the Read in flight did not return after the Puller's Close")
			}
			if _, ok := st.Has(f.layerDesc.Digest); ok {
				t.Error("a half-read blob is in the store")
			}
		})
	}
}
