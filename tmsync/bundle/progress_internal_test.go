package bundle

import (
	"testing"
	"time"
)

// TestTrackerThrottle: with the default interval, reads inside a blob send nothing
// until the interval has passed; a blob's end always sends; a source that sends more
// than a blob's size never shows past it, and the bytes never go down.
func TestTrackerThrottle(t *testing.T) {
	var got []int64
	tr := newTracker(func(e ProgressEvent) {
		if e.Kind == ProgressBytes {
			got = append(got, e.Bytes)
		}
	}, "a:1")
	tr.settle(10) // before start: nothing
	tr.start(1000)
	tr.settle(10)
	tr.fetching(500)
	for range 100 {
		tr.read(1) // well within the interval
	}
	if len(got) != 1 || got[0] != 10 {
		t.Fatalf("events %v: want only the settled 10 within the interval", got)
	}
	tr.last = time.Now().Add(-ProgressInterval)
	tr.read(1)
	if got[len(got)-1] != 111 {
		t.Fatalf("events %v: want 111 once the interval passed", got)
	}
	tr.last = time.Now().Add(-ProgressInterval)
	tr.read(900) // more than the blob's 500
	if got[len(got)-1] != 510 {
		t.Fatalf("events %v: want 510, the blob's end at most", got)
	}
	tr.settle(510)  // the blob is in: equal, not sent again
	tr.settle(1000) // the rest (a reused layer)
	want := []int64{10, 111, 510, 1000}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	var none *tracker // no WithProgress: every method is a no-op
	none.start(1)
	none.settle(1)
	none.fetching(1)
	none.end(1, nil)
	if r := none.reader(nil); r != nil {
		t.Error("a nil tracker wraps the reader")
	}
}
