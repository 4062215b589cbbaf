package pull

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestUnavailable: the source is reported down only once a request has spent its
// retries AND nothing was answered for OutageLimit; any answer clears it; failures that
// retrying cannot fix (a refused credential) never count; the error tells the cause.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	p, err := New(Options{Retries: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OutageLimit: time.Minute, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("blob")
	down503 := docker.UnexpectedHTTPStatusError{StatusCode: 503}
	fail := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	ok := func(context.Context) error { return nil }

	if err := p.Unavailable(); err != nil {
		t.Fatalf("a new puller is down: %v", err)
	}
	// Nothing answered for longer than the limit, but nothing spent its retries: up.
	clock.add(2 * time.Minute)
	if err := p.Unavailable(); err != nil {
		t.Fatalf("down without a failed request: %v", err)
	}
	// A refused credential is not retried and never counts.
	for range 3 {
		_ = p.retry(ctx, "manifest", d, fail(docker.ErrUnauthorizedForCredentials{}))
	}
	if err := p.Unavailable(); err != nil {
		t.Fatalf("down after refused credentials: %v", err)
	}
	// A 503 that outlives its retries, long after the last answer: down, with the cause.
	if err := p.retry(ctx, "blob", d, fail(down503)); err == nil {
		t.Fatal("a 503 on every try succeeded")
	}
	err = p.Unavailable()
	var ue *UnavailableError
	var status docker.UnexpectedHTTPStatusError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.Exhausted != 1 || !errors.As(err, &status) || status.StatusCode != 503 {
		t.Fatalf("after a spent request: %v (%+v)", err, ue)
	}
	if !strings.Contains(err.Error(), "2m0s") || !strings.Contains(err.Error(), "1 requests failed") {
		t.Errorf("message %q", err.Error())
	}
	// An answer clears it; requests that keep failing after it make an outage only once
	// one fails OutageLimit after the answer.
	if err := p.retry(ctx, "manifest", d, ok); err != nil {
		t.Fatal(err)
	}
	_ = p.retry(ctx, "blob", d, fail(down503))
	if err := p.Unavailable(); err != nil {
		t.Fatalf("down 0 s after an answer: %v", err)
	}
	clock.add(59 * time.Second)
	_ = p.retry(ctx, "blob", d, fail(down503))
	if err := p.Unavailable(); err != nil {
		t.Fatalf("down before the limit: %v", err)
	}
	clock.add(time.Second)
	_ = p.retry(ctx, "blob", d, fail(down503))
	if err := p.Unavailable(); !errors.As(err, &ue) || ue.Exhausted != 3 {
		t.Fatalf("at the limit with 3 spent requests: %v", err)
	}
	// One old failure and then a long time without requests is not an outage: late in a
	// run the copies may need nothing from the vendor.
	if err := p.retry(ctx, "manifest", d, ok); err != nil {
		t.Fatal(err)
	}
	_ = p.retry(ctx, "blob", d, fail(down503))
	clock.add(time.Hour)
	if err := p.Unavailable(); err != nil {
		t.Fatalf("down after an hour without requests: %v", err)
	}
	// A download that moves keeps the source up, however long it takes.
	p.alive.Store(clock.now().UnixNano())
	if err := p.Unavailable(); err != nil {
		t.Fatalf("down while bytes arrive: %v", err)
	}
	if _, err := New(Options{OutageLimit: -time.Second}); err == nil {
		t.Error("a negative OutageLimit was accepted")
	}
}
