package attest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
)

// floodServer serves `total` occurrences in pages of `per`, generated on the fly from a
// real signed occurrence (name and resource changed), never holding a page in memory.
// wanted occurrences (signed for real) are served first, on the first page.
type floodServer struct {
	*httptest.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

func newFloodServer(t testing.TB, total, per int, template json.RawMessage, wanted []json.RawMessage) *floodServer {
	t.Helper()
	// Split the template around its name and resource URI so that each generated
	// occurrence is the template with those two changed.
	var m map[string]any
	if err := json.Unmarshal(template, &m); err != nil {
		t.Fatal(err)
	}
	m["name"] = "@@NAME@@"
	m["resource"] = map[string]string{"uri": "@@URI@@"}
	tb, _ := json.Marshal(m)
	a, rest, _ := strings.Cut(string(tb), "@@NAME@@")
	b, c, _ := strings.Cut(rest, "@@URI@@")
	if !strings.Contains(a+b+c, "signature") {
		t.Fatal("template without a signature")
	}
	fs := &floodServer{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.requests.Add(1)
		start := 0
		if tok := r.URL.Query().Get("pageToken"); tok != "" {
			start, _ = strconv.Atoi(tok)
		}
		end := min(start+per, total)
		cw := &countWriter{w: w}
		bw := bufio.NewWriter(cw)
		bw.WriteString(`{"occurrences":[`)
		for i := start; i < end; i++ {
			if i > start {
				bw.WriteByte(',')
			}
			if i < len(wanted) {
				bw.Write(wanted[i])
				continue
			}
			fmt.Fprintf(bw, "%sprojects/flood/occurrences/%d%shttps://docker.external.thoughtmachine.io/vault/flood/img%d@%s%s",
				a, i, b, i, digest.FromString(strconv.Itoa(i)), c)
		}
		bw.WriteString(`]`)
		if end < total {
			fmt.Fprintf(bw, `,"nextPageToken":"%d"`, end)
		}
		bw.WriteString("}\n")
		bw.Flush()
		fs.bytes.Add(cw.n)
	}))
	t.Cleanup(fs.Close)
	return fs
}

type countWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// peakHeap samples the heap while f runs and returns the highest figure seen.
func peakHeap(f func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// Class 3 target: 200,000 occurrences in full pages are refused, with a flat heap.
func TestClientFloodRefusedFlatHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("serves 100,000 occurrences")
	}
	vendor := mustSigner(t, "vendor")
	subs, wanted := release(t, vendor, 3)
	srv := newFloodServer(t, 200_000, 1000, wanted[0], wanted)
	c := mustClient(t, srv.URL)
	var got []attest.Occurrence
	var err error
	peak := peakHeap(func() { got, err = c.ListFor(context.Background(), subs) })
	t.Logf("peak heap %.1f MiB; server sent %d pages, %.1f MiB", float64(peak)/(1<<20), srv.requests.Load(), float64(srv.bytes.Load())/(1<<20))
	if got != nil || !errors.Is(err, attest.ErrListingLimit) {
		t.Fatalf("got %d occurrences, error %v; want ErrListingLimit", len(got), err)
	}
	var le *attest.LimitError
	var ue *attest.UnavailableError
	if !errors.As(err, &le) || le.Limit != "MaxOccurrences" || !errors.As(err, &ue) {
		t.Fatalf("error = %#v", err)
	}
	if !strings.Contains(err.Error(), "attestation server sent more than 100000 occurrences") {
		t.Errorf("message: %v", err)
	}
	if n := srv.requests.Load(); n != 101 {
		t.Errorf("server saw %d requests, want 101 (100 full pages, refused inside the 101st)", n)
	}
	if peak > 64<<20 {
		t.Errorf("peak heap %d MiB, want under 64 MiB", peak>>20)
	}
}

// Memory stays flat with ListFor however long the listing (limits raised), and the kept
// occurrences are exactly the release's.
func BenchmarkListFor200k(b *testing.B) {
	vendor := mustSigner(b, "vendor")
	subs, wanted := release(b, vendor, 3)
	srv := newFloodServer(b, 200_000, 1000, wanted[0], wanted)
	for _, mode := range []string{"default limits", "raised limits"} {
		b.Run(mode, func(b *testing.B) {
			opts := []attest.ClientOption{}
			if mode == "raised limits" {
				opts = append(opts, attest.WithListLimits(attest.ListLimits{MaxOccurrences: 1_000_000, MaxBytes: 4 << 30}))
			}
			c := mustClient(b, srv.URL, opts...)
			var peak uint64
			for b.Loop() {
				var got []attest.Occurrence
				var err error
				p := peakHeap(func() { got, err = c.ListFor(context.Background(), subs) })
				peak = max(peak, p)
				if mode == "default limits" && !errors.Is(err, attest.ErrListingLimit) {
					b.Fatalf("error = %v", err)
				}
				if mode == "raised limits" && (err != nil || len(got) != 3) {
					b.Fatalf("got %d, %v", len(got), err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			if peak > 64<<20 {
				b.Errorf("peak heap %d MiB, want under 64 MiB", peak>>20)
			}
		})
	}
}

// A listing that is large but within the limits works, in ListFor and List.
func TestClientLargeListingWithinLimits(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	subs, wanted := release(t, vendor, 3)
	srv := newFloodServer(t, 12_345, 1000, wanted[0], wanted)
	c := mustClient(t, srv.URL)
	got, err := c.ListFor(context.Background(), subs)
	if err != nil || len(got) != 3 {
		t.Fatalf("ListFor: %d occurrences, %v", len(got), err)
	}
	v := mustVerifier(t, mustKeyring(t, vendor))
	idx := attest.NewIndex(got)
	for _, s := range subs {
		if _, err := v.Verify(s, idx.For(s)); err != nil {
			t.Error(err)
		}
	}
	all, err := c.List(context.Background())
	if err != nil || len(all) != 12_345 {
		t.Fatalf("List: %d occurrences, %v", len(all), err)
	}
	// Exactly at the limits: still accepted.
	page := srv.bytes.Load() / int64(srv.requests.Load())
	c = mustClient(t, srv.URL, attest.WithListLimits(attest.ListLimits{MaxOccurrences: 12_345, MaxPages: 13}))
	if got, err := c.ListFor(context.Background(), subs); err != nil || len(got) != 3 {
		t.Fatalf("at the limits: %d, %v (page ~%d bytes)", len(got), err, page)
	}
}

// Each limit, one at a time.
func TestClientListLimits(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	subs, wanted := release(t, vendor, 3)
	srv := newFloodServer(t, 5000, 500, wanted[0], wanted)
	one, _ := json.Marshal(map[string]any{"occurrences": []json.RawMessage{wanted[0]}})
	for _, tc := range []struct {
		name  string
		lim   attest.ListLimits
		limit string
	}{
		{"occurrences", attest.ListLimits{MaxOccurrences: 4999}, "MaxOccurrences"},
		{"pages", attest.ListLimits{MaxPages: 9}, "MaxPages"},
		{"bytes", attest.ListLimits{MaxBytes: int64(len(one)) * 3000}, "MaxBytes"},
		{"page bytes", attest.ListLimits{MaxPageBytes: int64(len(one)) * 100}, "MaxPageBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustClient(t, srv.URL, attest.WithListLimits(tc.lim))
			for name, list := range map[string]func() ([]attest.Occurrence, error){
				"ListFor":  func() ([]attest.Occurrence, error) { return c.ListFor(context.Background(), subs) },
				"List":     func() ([]attest.Occurrence, error) { return c.List(context.Background()) },
				"ForImage": func() ([]attest.Occurrence, error) { return c.ForImage(context.Background(), subs[0]) },
			} {
				got, err := list()
				var le *attest.LimitError
				if got != nil || !errors.As(err, &le) || le.Limit != tc.limit || !strings.Contains(err.Error(), "attestation server sent more than") {
					t.Errorf("%s: got %d, error %v; want limit %s", name, len(got), err, tc.limit)
				}
			}
		})
	}
	// Limits are not retried: one request for a page over its size.
	c := mustClient(t, srv.URL, attest.WithListLimits(attest.ListLimits{MaxPageBytes: 1000}))
	if _, err := c.List(context.Background()); !errors.Is(err, attest.ErrListingLimit) || c.Requests() != 1 {
		t.Errorf("page limit: %v after %d requests", err, c.Requests())
	}
	if _, err := attest.NewClient("https://example.com/o", attest.WithListLimits(attest.ListLimits{MaxPages: -1})); err == nil {
		t.Error("negative limit accepted")
	}
	if d := attest.DefaultListLimits(); mustClient(t, srv.URL).ListLimits() != d || d.MaxOccurrences != 100_000 {
		t.Errorf("defaults: %+v", d)
	}
}

// A server that trickles pages (or one endless body) hits the listing deadline, reported
// as a limit; the caller's own cancellation stays a context error.
func TestClientListTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strconv.Atoi(r.URL.Query().Get("pageToken"))
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(w, `{"occurrences":[],"nextPageToken":"%d"}`, tok+1)
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL, attest.WithListLimits(attest.ListLimits{Timeout: 300 * time.Millisecond}))
	start := time.Now()
	_, err := c.List(context.Background())
	var le *attest.LimitError
	if !errors.As(err, &le) || le.Limit != "Timeout" || time.Since(start) > 5*time.Second {
		t.Fatalf("error = %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c = mustClient(t, srv.URL)
	if _, err := c.List(ctx); errors.Is(err, attest.ErrListingLimit) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller's deadline: %v", err)
	}
}

// Malformed streams: each is a bad answer, not a panic or a hang.
func TestClientStreamingBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"array":                 `[]`,
		"occurrences object":    `{"occurrences":{}}`,
		"truncated":             `{"occurrences":[{"name":"x"`,
		"trailing data":         `{"occurrences":[]} {"occurrences":[]}`,
		"token not a string":    `{"occurrences":[],"nextPageToken":1}`,
		"unterminated array":    `{"occurrences":[`,
		"garbage after key":     `{"occurrences" 1}`,
		"empty":                 ``,
		"occurrence not object": `{"occurrences":[1]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
			defer srv.Close()
			got, err := mustClient(t, srv.URL).List(context.Background())
			if name == "occurrence not object" {
				// Skipped as malformed, like any bad occurrence.
				if err != nil || len(got) != 0 {
					t.Fatalf("got %d, %v", len(got), err)
				}
				return
			}
			if !errors.Is(err, attest.ErrBadResponse) {
				t.Fatalf("error = %v", err)
			}
		})
	}
	// null occurrences and unknown fields are fine.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"extra":{"a":[1,2]},"occurrences":null}`)
	}))
	defer srv.Close()
	if got, err := mustClient(t, srv.URL).List(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("got %d, %v", len(got), err)
	}
}
