package tmsync

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestForEachStartsNothingAfterCancel: once the run is cancelled, no image waiting for a
// free slot is started.
func TestForEachStartsNothingAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	items := []*item{{}, {}, {}}
	var started atomic.Int32
	forEach(ctx, items, 1, func(context.Context, *item) {
		started.Add(1)
		cancel() // SIGTERM while the first image copies
	})
	if n := started.Load(); n != 1 {
		t.Errorf("%d images started, want 1: images were started after the cancel", n)
	}
}
