package blobstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func randomBlob(t testing.TB, n int, seed uint64) ([]byte, digest.Digest) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, digest.FromBytes(b)
}

func open(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readAll(t *testing.T, s *Store, d digest.Digest) []byte {
	t.Helper()
	rc, _, err := s.Open(d)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ingestEmpty fails when a partial file is left behind, and blobsHold checks what is visible.
func ingestEmpty(t *testing.T, s *Store) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), ingestDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("ingest/ holds %d leftovers", len(ents))
	}
}

func TestPutVerifies(t *testing.T) {
	blob, d := randomBlob(t, 100_000, 1)
	other, _ := randomBlob(t, 100_000, 2)
	sha512 := digest.SHA512.FromBytes(blob)
	for _, tc := range []struct {
		name    string
		d       digest.Digest
		size    int64
		content []byte
		wantErr error
	}{
		{"right", d, int64(len(blob)), blob, nil},
		{"sha512", sha512, int64(len(blob)), blob, nil},
		{"other bytes same size", d, int64(len(blob)), other, ErrDigestMismatch},
		{"short", d, int64(len(blob)), blob[:len(blob)-1], ErrDigestMismatch},
		{"long", d, int64(len(blob) - 1), blob, ErrDigestMismatch},
		{"size lies, digest right", d, int64(len(blob) + 1), blob, ErrDigestMismatch},
		{"empty blob", digest.FromBytes(nil), 0, nil, nil},
		{"uppercase hex", digest.Digest("sha256:" + string(bytes.ToUpper([]byte(d.Encoded())))), int64(len(blob)), blob, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, Options{})
			err := s.Put(context.Background(), tc.d, tc.size, bytes.NewReader(tc.content))
			if tc.name == "uppercase hex" {
				if err == nil {
					t.Fatal("an uppercase digest was accepted")
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put: %v, want %v", err, tc.wantErr)
			}
			ingestEmpty(t, s)
			_, statErr := os.Stat(s.blobPath(tc.d))
			if tc.wantErr != nil {
				if statErr == nil {
					t.Fatal("a wrong blob became visible")
				}
				if _, ok := s.Has(tc.d); ok || s.Size() != 0 {
					t.Fatalf("a wrong blob is counted: size %d", s.Size())
				}
				return
			}
			if statErr != nil {
				t.Fatal(statErr)
			}
			if got := readAll(t, s, tc.d); !bytes.Equal(got, tc.content) {
				t.Fatal("read back other bytes")
			}
			if s.Size() != tc.size {
				t.Fatalf("Size %d, want %d", s.Size(), tc.size)
			}
		})
	}
}

func TestLayoutFiles(t *testing.T) {
	s := open(t, Options{})
	var l ocispec.ImageLayout
	b, err := os.ReadFile(filepath.Join(s.Dir(), "oci-layout"))
	if err != nil || json.Unmarshal(b, &l) != nil || l.Version != "1.0.0" {
		t.Fatalf("oci-layout: %s %v", b, err)
	}
	var idx ocispec.Index
	b, err = os.ReadFile(filepath.Join(s.Dir(), "index.json"))
	if err != nil || json.Unmarshal(b, &idx) != nil || idx.SchemaVersion != 2 || idx.Manifests == nil {
		t.Fatalf("index.json: %s %v", b, err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	s := open(t, Options{})
	blob, d := randomBlob(t, 5000, 3)
	w, err := s.Begin(context.Background(), d, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(blob[:2000]); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Has(d); ok {
		t.Fatal("a blob being written is visible")
	}
	w.Abort()
	w.Abort() // idempotent
	if err := w.Commit(); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	ingestEmpty(t, s)
	if _, _, err := s.Open(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after abort: %v", err)
	}
	// The reservation is released: a bounded store takes the blob again.
	if err := s.Put(context.Background(), d, int64(len(blob)), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
}

func TestBeginCoalesces(t *testing.T) {
	s := open(t, Options{})
	blob, d := randomBlob(t, 1<<20, 4)
	const n = 16
	var writers, exists atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			w, err := s.Begin(context.Background(), d, int64(len(blob)))
			switch {
			case errors.Is(err, ErrExists):
				exists.Add(1)
				if got := readAll(t, s, d); !bytes.Equal(got, blob) {
					t.Error("a waiter read other bytes")
				}
			case err != nil:
				t.Error(err)
			default:
				writers.Add(1)
				time.Sleep(20 * time.Millisecond) // keep the others waiting
				_, _ = w.Write(blob)
				if err := w.Commit(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if writers.Load() != 1 || exists.Load() != n-1 {
		t.Fatalf("%d writers, %d found it stored; want 1 and %d", writers.Load(), exists.Load(), n-1)
	}
	if st := s.Stats(); st.Written != 1 {
		t.Fatalf("written %d times", st.Written)
	}
}

func TestBeginAfterAbortHandsOver(t *testing.T) {
	s := open(t, Options{})
	blob, d := randomBlob(t, 1000, 5)
	w1, err := s.Begin(context.Background(), d, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		w2, err := s.Begin(context.Background(), d, int64(len(blob)))
		if err == nil {
			_, _ = w2.Write(blob)
			err = w2.Commit()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second Begin did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	_, _ = w1.Write([]byte("garbage"))
	w1.Abort()
	if err := <-got; err != nil {
		t.Fatalf("the waiter did not take over: %v", err)
	}
	if !bytes.Equal(readAll(t, s, d), blob) {
		t.Fatal("wrong bytes")
	}
	// A waiter gives up with its context.
	_, d2 := randomBlob(t, 10, 6)
	w3, _ := s.Begin(context.Background(), d2, 10)
	defer w3.Abort()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.Begin(ctx, d2, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter with a cancelled context: %v", err)
	}
}

func TestBound(t *testing.T) {
	s := open(t, Options{MaxBytes: 3000})
	a, da := randomBlob(t, 2000, 7)
	b, db := randomBlob(t, 1001, 8)
	c, dc := randomBlob(t, 1000, 9)
	ctx := context.Background()
	wa, err := s.Begin(ctx, da, 2000)
	if err != nil {
		t.Fatal(err)
	}
	// Reserved bytes count before the commit.
	if _, err := s.Begin(ctx, db, int64(len(b))); !errors.Is(err, ErrFull) {
		t.Fatalf("over the bound while reserved: %v", err)
	}
	_, _ = wa.Write(a)
	if err := wa.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, db, int64(len(b)), bytes.NewReader(b)); !errors.Is(err, ErrFull) {
		t.Fatalf("over the bound: %v", err)
	}
	if err := s.Put(ctx, dc, int64(len(c)), bytes.NewReader(c)); err != nil {
		t.Fatalf("exactly at the bound: %v", err)
	}
	if _, err := s.Begin(ctx, digest.FromString("x"), -1); !errors.Is(err, ErrFull) {
		t.Fatalf("unknown size: %v", err)
	}
	if st := s.Stats(); st.Refused != 3 || st.Bytes != 3000 || st.Blobs != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTemporaryRemovedKeptReused(t *testing.T) {
	ctx := context.Background()
	tmp, err := Open(Options{TempParent: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir := tmp.Dir()
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary store left behind: %v", err)
	}

	kept := filepath.Join(t.TempDir(), "cache")
	s, err := Open(Options{Dir: kept})
	if err != nil {
		t.Fatal(err)
	}
	good, dg := randomBlob(t, 4000, 10)
	torn, dt := randomBlob(t, 4000, 11)
	changed, dch := randomBlob(t, 4000, 12)
	for _, x := range []struct {
		d digest.Digest
		b []byte
	}{{dg, good}, {dt, torn}, {dch, changed}} {
		if err := s.Put(ctx, x.d, int64(len(x.b)), bytes.NewReader(x.b)); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-write leaves an ingest file; it must not count or survive.
	if err := os.WriteFile(filepath.Join(kept, ingestDir, "leftover"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Tear one blob (a crash without fsync) and change a byte of another.
	if err := os.Truncate(s.blobPath(dt), 100); err != nil {
		t.Fatal(err)
	}
	changed[0] ^= 1
	if err := os.WriteFile(s.blobPath(dch), changed, 0o644); err != nil {
		t.Fatal(err)
	}

	r := open(t, Options{Dir: kept})
	ingestEmpty(t, r)
	if st := r.Stats(); st.Reused != 3 {
		t.Fatalf("reused %d blobs, want 3", st.Reused)
	}
	if !bytes.Equal(readAll(t, r, dg), good) {
		t.Fatal("reused blob reads other bytes")
	}
	for _, d := range []digest.Digest{dt, dch} {
		if _, _, err := r.Open(d); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a damaged reused blob was served: %v", err)
		}
		if _, ok := r.Has(d); ok {
			t.Fatal("a damaged blob is still held")
		}
		if _, err := os.Stat(r.blobPath(d)); !os.IsNotExist(err) {
			t.Fatal("a damaged blob is still on disk")
		}
	}
	if st := r.Stats(); st.Evicted != 2 || st.Bytes != 4000 || st.Blobs != 1 {
		t.Fatalf("stats after eviction %+v", st)
	}
	// It can be fetched again.
	if err := r.Put(ctx, dt, int64(len(torn)), bytes.NewReader(torn)); err != nil {
		t.Fatal(err)
	}

	// Not a layout: refused.
	bad := t.TempDir()
	_ = os.WriteFile(filepath.Join(bad, "oci-layout"), []byte(`{"imageLayoutVersion":"2.0"}`), 0o644)
	if _, err := Open(Options{Dir: bad}); err == nil {
		t.Fatal("a foreign oci-layout version was accepted")
	}
}
