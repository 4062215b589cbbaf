package ecrtarget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoKeysConcurrent: repositories ensured in parallel resolve a shared key once; a
// failure is not kept; another key is resolved on its own.
func TestMemoKeysConcurrent(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	m := memoKeys(func(ctx context.Context, key string) (string, error) {
		calls.Add(1)
		time.Sleep(5 * time.Millisecond) // a DescribeKey round trip
		if fail.Load() {
			return "", errors.New("throttled")
		}
		return "arn:" + key, nil
	})
	if _, err := m(context.Background(), "alias/a"); err == nil {
		t.Fatal("the failure was not returned")
	}
	fail.Store(false)
	calls.Store(0)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if arn, err := m(context.Background(), "alias/a"); err != nil || arn != "arn:alias/a" {
				t.Errorf("got %q, %v", arn, err)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("16 parallel lookups of one key made %d resolutions, want 1 (the failure before is not kept)", n)
	}
	if arn, err := m(context.Background(), "alias/b"); err != nil || arn != "arn:alias/b" || calls.Load() != 2 {
		t.Fatalf("another key: %q, %v, %d resolutions", arn, err, calls.Load())
	}
	if memoKeys(nil) != nil {
		t.Fatal("memoKeys(nil) is not nil")
	}
}
