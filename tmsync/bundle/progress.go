package bundle

import (
	"io"
	"time"
)

// ProgressKind says what a ProgressEvent reports.
type ProgressKind string

// The kinds of ProgressEvent. Export reads every image's manifests first, then sends
// ProgressPlanned once, then writes the images' blobs. Each image sends, in order,
// ProgressStart once, ProgressBytes any number of times, then ProgressDone or
// ProgressFail once. An image sends ProgressFail alone when its manifests could not be
// read (before ProgressPlanned), and also after it when its source could not be opened
// again for its blobs or the source was reported unavailable before it started.
const (
	// ProgressPlanned: every image's manifests are read. Image is "", Images is the
	// images whose blobs are now written and Bytes the sum of their sizes (a blob shared
	// by several images counted for each, a layer left out of an incremental bundle
	// counted: each image's ProgressDone bytes).
	ProgressPlanned ProgressKind = "planned"

	// ProgressStart: the image's manifests are read (and in the layout), its blobs are
	// about to be; Bytes is the image's size, what its ProgressDone will say.
	ProgressStart ProgressKind = "start"
	// ProgressBytes: Bytes is how many of the image's bytes are in the layout so far
	// (manifests, configs, layers; a layer already there from an earlier run, fetched
	// by another image or left out of an incremental bundle counts whole when the image
	// reaches it). It never decreases and never exceeds the image's size.
	ProgressBytes ProgressKind = "bytes"
	// ProgressDone: every blob of the image is in the layout; Bytes is its size, as
	// ImageRecord.Bytes in bundle.json. The bundle itself is written only when every
	// image is done: Export can still fail after it.
	ProgressDone ProgressKind = "done"
	// ProgressFail: the image could not be written; Err says why (the error Export
	// joins for it). No bundle.json will be written.
	ProgressFail ProgressKind = "fail"
)

// ProgressInterval is how often, at most, an image sends ProgressBytes while a blob is
// being read; it also sends one each time a blob is in.
const ProgressInterval = 500 * time.Millisecond

// ProgressEvent is what WithProgress's function is told about one image.
type ProgressEvent struct {
	Kind ProgressKind
	// Image is the image's Name.
	Image string
	// Bytes: see each kind.
	Bytes int64
	// Images is set on ProgressPlanned.
	Images int
	// Err is set on ProgressFail.
	Err error
}

// WithProgress sets a function Export calls once every image's manifests are read
// (ProgressPlanned), and as each image is written: when it starts, as its bytes move,
// and when it is done or fails (see ProgressKind). It is called from the goroutines
// writing the images, for different images at once (it must be safe for concurrent
// use); the events of one image come from one goroutine, in order. It should return
// quickly: the image waits for it. Default: none.
func WithProgress(fn func(ProgressEvent)) ExportOption {
	return func(o *exportOptions) error { o.progress = fn; return nil }
}

// progressEvery is ProgressInterval; tests shorten it.
var progressEvery = ProgressInterval

// tracker sends one image's ProgressEvents. A nil *tracker sends nothing. It is used by
// the image's goroutine only.
type tracker struct {
	fn      func(ProgressEvent)
	name    string
	started bool
	base    int64 // bytes of the image's blobs in the layout
	cur     int64 // bytes read of the blob being fetched
	limit   int64 // that blob's size, or -1
	shown   int64 // last Bytes sent
	last    time.Time
}

func newTracker(fn func(ProgressEvent), name string) *tracker {
	if fn == nil {
		return nil
	}
	return &tracker{fn: fn, name: name}
}

func (t *tracker) start(size int64) {
	if t == nil {
		return
	}
	t.started = true
	t.last = time.Now()
	t.fn(ProgressEvent{Kind: ProgressStart, Image: t.name, Bytes: size})
}

// settle records that the image's blobs in the layout now add up to total.
func (t *tracker) settle(total int64) {
	if t == nil {
		return
	}
	t.base, t.cur, t.limit = total, 0, 0
	t.show()
}

// fetching begins a blob of size (-1: unknown) on top of the settled bytes.
func (t *tracker) fetching(size int64) {
	if t == nil {
		return
	}
	t.cur, t.limit = 0, size
}

func (t *tracker) read(n int64) {
	t.cur += n
	if time.Since(t.last) >= progressEvery {
		t.show()
	}
}

func (t *tracker) show() {
	if !t.started {
		return
	}
	cur := t.cur
	if t.limit >= 0 {
		cur = min(cur, t.limit) // a source sending more fails the blob; never show past it
	}
	if v := t.base + cur; v > t.shown {
		t.shown, t.last = v, time.Now()
		t.fn(ProgressEvent{Kind: ProgressBytes, Image: t.name, Bytes: v})
	}
}

func (t *tracker) end(bytes int64, err error) {
	if t == nil {
		return
	}
	if err != nil {
		t.fn(ProgressEvent{Kind: ProgressFail, Image: t.name, Err: err})
		return
	}
	t.fn(ProgressEvent{Kind: ProgressDone, Image: t.name, Bytes: bytes})
}

// reader counts what r delivers into t.
func (t *tracker) reader(r io.Reader) io.Reader {
	if t == nil {
		return r
	}
	return &countingReader{r: r, t: t}
}

type countingReader struct {
	r io.Reader
	t *tracker
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.t.read(int64(n))
	}
	return n, err
}
