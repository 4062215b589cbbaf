package tmsync

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/tmsync/internal/schedule"
)

// dispatchRecorder runs fake copies and records when each one starts and ends.
type dispatchRecorder struct {
	mu              sync.Mutex
	started, ended  []int
	running, maxRun int
	endedAt         map[int]int // image -> position in ended
	startedWith     map[int][]int
}

func (d *dispatchRecorder) copy(i int) {
	d.mu.Lock()
	d.started = append(d.started, i)
	d.startedWith[i] = slices.Clone(d.ended)
	d.running++
	d.maxRun = max(d.maxRun, d.running)
	d.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	d.mu.Lock()
	d.running--
	d.endedAt[i] = len(d.ended)
	d.ended = append(d.ended, i)
	d.mu.Unlock()
}

func newDispatchRecorder() *dispatchRecorder {
	return &dispatchRecorder{endedAt: map[int]int{}, startedWith: map[int][]int{}}
}

func blob(name string, size int64) schedule.Blob {
	return schedule.Blob{Digest: digest.FromString(name), Size: size}
}

// dispatchPlan: image 3 carries both shared bases and leads; 0, 1 and 4 wait for it; 2
// and 5 share nothing (5 is the largest copy of all).
func dispatchPlan() schedule.Plan {
	a, b := blob("a", 100), blob("b", 50)
	return schedule.Make([]schedule.Image{
		{Blobs: []schedule.Blob{a, blob("x0", 10)}},
		{Blobs: []schedule.Blob{b, blob("x1", 20)}},
		{Blobs: []schedule.Blob{blob("x2", 300)}},
		{Blobs: []schedule.Blob{a, b, blob("x3", 1)}},
		{Blobs: []schedule.Blob{a, b, blob("x4", 30)}},
		{Blobs: []schedule.Blob{blob("x5", 900)}},
	})
}

// TestDispatchOrder: the leader starts first although it is the smallest, then the
// larger independent copies; no copy starts before the images it waits for have ended;
// never more than the concurrency run at once; every image runs once.
func TestDispatchOrder(t *testing.T) {
	plan := dispatchPlan()
	if !slices.Equal(plan.Leaders, []int{3}) {
		t.Fatalf("leaders %v", plan.Leaders)
	}
	for _, width := range []int{1, 2, 4} {
		r := &run{o: &options{concurrency: width}}
		d := newDispatchRecorder()
		r.dispatch(context.Background(), plan, true, d.copy)
		if len(d.ended) != 6 || d.maxRun > width {
			t.Fatalf("width %d: ended %v, at most %d running", width, d.ended, d.maxRun)
		}
		sorted := slices.Clone(d.started)
		slices.Sort(sorted)
		if !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5}) {
			t.Fatalf("width %d: started %v", width, d.started)
		}
		// The first slots are filled at once (their goroutines start in any order): the
		// leader is among them.
		if !slices.Contains(d.started[:width], 3) {
			t.Errorf("width %d: started %v, want the leader 3 in the first %d", width, d.started, width)
		}
		for i, after := range plan.After {
			for _, j := range after {
				if !slices.Contains(d.startedWith[i], j) {
					t.Errorf("width %d: %d started before %d ended (ended then: %v)", width, i, j, d.startedWith[i])
				}
			}
		}
		if width == 1 {
			// One slot: the order is the plan's order exactly.
			if want := plan.Order(); !slices.Equal(d.started, want) {
				t.Errorf("width 1: started %v, want %v", d.started, want)
			}
		}
	}
	// Without waiting, everything is ready at once: the plan's order, leader first.
	r := &run{o: &options{concurrency: 1}}
	d := newDispatchRecorder()
	r.dispatch(context.Background(), plan, false, d.copy)
	if want := plan.Order(); !slices.Equal(d.started, want) {
		t.Errorf("no wait: started %v, want %v", d.started, want)
	}
}

// TestDispatchInterrupted: once the context ends nothing more starts; the copies
// running end and dispatch returns.
func TestDispatchInterrupted(t *testing.T) {
	plan := dispatchPlan()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{o: &options{concurrency: 2}}
	d := newDispatchRecorder()
	done := make(chan struct{})
	go func() {
		r.dispatch(ctx, plan, true, func(i int) {
			d.copy(i)
			cancel() // the first copy to end interrupts the run
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("dispatch did not return after the interruption")
	}
	if len(d.started) > 2 || len(d.started) != len(d.ended) {
		t.Fatalf("started %v, ended %v after an interruption with 2 slots", d.started, d.ended)
	}
}
