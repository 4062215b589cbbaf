package tmsync

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestPushLimiter: the evidence pushes of all goroutines together stay at the rate (ECR's
// PutImage quota), the first one waits for nothing, and a cancelled wait returns at once.
func TestPushLimiter(t *testing.T) {
	l := newRateLimiter(100) // 10 ms apart
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// 20 pushes: the first at once, 19 spaced 10 ms.
	if d := time.Since(start); d < 190*time.Millisecond || d > 2*time.Second {
		t.Errorf("20 pushes at 100/s took %s, want about 190ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	slow := newRateLimiter(0.1) // 10 s apart
	if err := slow.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	t0 := time.Now()
	if err := slow.Wait(ctx); err == nil || time.Since(t0) > time.Second {
		t.Errorf("a cancelled wait: %v after %s, want the context's error at once", err, time.Since(t0))
	}
}

func TestWithEvidenceOptions(t *testing.T) {
	o := &options{}
	if err := WithEvidence(Evidence{PushRate: -1})(o); err == nil {
		t.Error("a negative push rate was accepted")
	}
	if err := WithEvidence(Evidence{CopyReferrers: true})(o); err != nil || o.evidence.PushRate != DefaultPushRate || o.pushLimiter == nil {
		t.Errorf("defaults: %v, rate %v, limiter %v", err, o.evidence.PushRate, o.pushLimiter)
	}
	if (Evidence{}).any() || !(Evidence{CopyReferrers: true}).any() {
		t.Error("Evidence.any")
	}
}
