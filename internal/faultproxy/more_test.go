package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestResetRate(t *testing.T) {
	p := Start(t, backend(t, 16).URL, Config{Seed: 3, ResetRate: 0.1})
	const n = 1000
	resets := 0
	for i := range n {
		// A fresh connection each time: a reset connection is gone anyway, and a reused
		// idle one would blur which request met the reset.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := c.Get(fmt.Sprintf("%s/v2/app/manifests/tag-%d", p.URL, i%40))
		if err != nil {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
				t.Fatalf("request %d: %v, want a connection reset", i, err)
			}
			resets++
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	within(t, "reset share", float64(resets)/n, 0.1, 0.03)
	st := p.Stats()
	if st.Resets != resets || st.Faults() != resets {
		t.Errorf("Stats: %d resets, %d faults; client saw %d", st.Resets, st.Faults(), resets)
	}
	for _, f := range p.Faults() {
		if f.Kind != KindReset {
			t.Fatalf("fault %+v", f)
		}
	}
}

// A stalled blob sends part of its body, nothing for Stall, then the rest.
func TestStallMidBody(t *testing.T) {
	const size = 256 << 10
	p := Start(t, backend(t, size).URL, Config{Seed: 4, StallRate: 1, Stall: 400 * time.Millisecond, Match: IsBlobDownload})
	res, err := http.Get(p.URL + "/v2/app/blobs/" + blobDigest)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got, before int64
	var gap time.Duration
	last := time.Now()
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		if d := time.Since(last); d > gap {
			gap, before = d, got
		}
		last = time.Now()
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if got != size {
		t.Fatalf("got %d bytes, want %d", got, size)
	}
	if gap < 350*time.Millisecond {
		t.Fatalf("longest silence %v, want the stall of 400ms", gap)
	}
	if before < size/10-1 || before > size*9/10+1 {
		t.Fatalf("stalled after %d of %d bytes, want between 10%% and 90%%", before, size)
	}
	f := p.Faults()
	if len(f) != 1 || f[0].Kind != KindStall || f[0].Sent != before || f[0].Status != 200 {
		t.Fatalf("faults %+v, stalled after %d", f, before)
	}
	// A manifest is not a blob: Match spares it.
	start := time.Now()
	if status, _, err := get(t, newClient(t), "GET", p.URL+"/v2/app/manifests/1.0"); status != 200 || err != nil || time.Since(start) > 300*time.Millisecond {
		t.Fatalf("manifest: %d %v after %v", status, err, time.Since(start))
	}
}

// Any other request stalls before its status line; a client that gives up first sees a
// timeout, and the proxy is not stuck.
func TestStallBeforeHeaders(t *testing.T) {
	p := Start(t, backend(t, 16).URL, Config{StallRate: 1, Stall: 2 * time.Second})
	c := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := c.Get(p.URL + "/v2/app/manifests/1.0")
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v, want the client's timeout", err, time.Since(start))
	}
	if st := p.Stats(); st.Stalls != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := p.SetConfig(Config{StallRate: 1, Stall: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if status, body, err := get(t, newClient(t), "GET", p.URL+"/v2/app/manifests/1.0"); status != 200 || err != nil || string(body) != "ok" {
		t.Fatalf("after the stall: %d %q %v", status, body, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("answered after %v, want the stall first", d)
	}
}

// Blob egress is counted exactly: whole bodies, the part of a cut one, nothing for HEAD,
// errors or resets.
func TestBlobEgress(t *testing.T) {
	const size = 10000
	p := Start(t, backend(t, size).URL, Config{})
	c := newClient(t)
	other := "sha256:" + fmt.Sprintf("%064x", 1)
	for _, path := range []string{"/v2/a/b/blobs/" + blobDigest, "/v2/a/b/blobs/" + blobDigest, "/v2/c/blobs/" + blobDigest, "/v2/c/blobs/" + other} {
		if status, body, err := get(t, c, "GET", p.URL+path); status != 200 || err != nil || len(body) != size {
			t.Fatalf("GET %s: %d, %d bytes, %v", path, status, len(body), err)
		}
	}
	if status, _, _ := get(t, c, "HEAD", p.URL+"/v2/a/b/blobs/"+blobDigest); status != 200 {
		t.Fatal(status)
	}
	if status, body, _ := get(t, c, "GET", p.URL+"/v2/a/b/manifests/1.0"); status != 200 || string(body) != "ok" {
		t.Fatal(status)
	}
	want := map[BlobKey]BlobCount{
		{"a/b", blobDigest}: {Gets: 2, Bytes: 2 * size},
		{"c", blobDigest}:   {Gets: 1, Bytes: size},
		{"c", other}:        {Gets: 1, Bytes: size},
	}
	// The proxy counts a body when its copy to the client ends, which can be just after
	// the client has read it: wait (bounded) for the counts to land.
	st := p.Stats()
	for deadline := time.Now().Add(2 * time.Second); (st.BodyBytes != 4*size+2 || !reflect.DeepEqual(st.Blobs, want)) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		st = p.Stats()
	}
	if !reflect.DeepEqual(st.Blobs, want) {
		t.Fatalf("blobs %+v, want %+v", st.Blobs, want)
	}
	if st.BlobBytes() != 4*size || st.BodyBytes != 4*size+2 {
		t.Fatalf("blob bytes %d, body bytes %d", st.BlobBytes(), st.BodyBytes)
	}
	if got := st.BlobBytesByDigest(); got[blobDigest] != 3*size || got[other] != size {
		t.Fatalf("by digest %v", got)
	}

	// A cut body counts what was sent; an injected error counts nothing.
	p.ResetCounts()
	if err := p.SetConfig(Config{Seed: 1, CutRate: 1, MaxFaults: 1}); err != nil {
		t.Fatal(err)
	}
	_, body, err := get(t, c, "GET", p.URL+"/v2/a/b/blobs/"+blobDigest)
	if err == nil {
		t.Fatal("not cut")
	}
	f := p.Faults()
	if len(f) != 1 || f[0].Attempt != 1 {
		t.Fatalf("faults after ResetCounts: %+v", f)
	}
	if st := p.Stats(); st.BlobBytes() != f[0].Sent || int64(len(body)) != f[0].Sent {
		t.Fatalf("cut: counted %d, sent %d, client read %d", st.BlobBytes(), f[0].Sent, len(body))
	}
	if err := p.SetConfig(Config{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	before := p.Stats().BodyBytes
	if status, _, _ := get(t, c, "GET", p.URL+"/v2/a/b/blobs/"+blobDigest); status < 500 && status != 429 {
		t.Fatal(status)
	}
	if st := p.Stats(); st.BodyBytes != before || st.Blobs[BlobKey{"a/b", blobDigest}].Gets != 1 {
		t.Fatalf("an injected error was counted: %+v", st)
	}
}

// faultLog runs a fixed, sequential mix of requests through a fresh proxy and returns
// what was injected.
func faultLog(t *testing.T, target string, cfg Config) []Fault {
	p := Start(t, target, cfg)
	for i := range 200 {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		path := fmt.Sprintf("/v2/app%d/manifests/1.0", i%9)
		if i%2 == 0 {
			path = fmt.Sprintf("/v2/app%d/blobs/%s", i%9, blobDigest)
		}
		res, err := c.Get(p.URL + path)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	f := p.Faults()
	for i := range f {
		f[i].Sent, f[i].Size = 0, 0 // not part of the fate
	}
	return f
}

// Every kind of fault is a function of the seed.
func TestMixedFaultsDeterministic(t *testing.T) {
	target := backend(t, 2048).URL
	cfg := Config{Seed: 11, ErrorRate: 0.1, ResetRate: 0.05, CutRate: 0.05, StallRate: 0.05, Stall: time.Millisecond}
	a, b := faultLog(t, target, cfg), faultLog(t, target, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	kinds := map[FaultKind]int{}
	for _, f := range a {
		kinds[f.Kind]++
	}
	for _, k := range []FaultKind{KindError, KindReset, KindCut, KindStall} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %d faults", k, len(a))
		}
	}
	cfg.Seed = 12
	if c := faultLog(t, target, cfg); reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same faults")
	}
}

// A padded blob download comes without a Content-Length, the blob's bytes and then Pad
// zeros (or zeros without end); other requests are untouched.
func TestPad(t *testing.T) {
	const size = 64 << 10
	for _, pad := range []int64{1, 100 << 10} {
		t.Run(fmt.Sprint(pad), func(t *testing.T) {
			p := Start(t, backend(t, size).URL, Config{Pad: pad})
			res, err := http.Get(p.URL + "/v2/app/blobs/" + blobDigest)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.ContentLength != -1 || res.Header.Get("Content-Length") != "" {
				t.Errorf("Content-Length %d %q, want none", res.ContentLength, res.Header.Get("Content-Length"))
			}
			if int64(len(body)) != size+pad {
				t.Fatalf("%d bytes, want %d", len(body), size+pad)
			}
			for _, b := range body[size:] {
				if b != 0 {
					t.Fatal("padding is not zeros")
				}
			}
			if st := p.Stats(); st.Pads != 1 || st.Faults() != 0 {
				t.Errorf("Stats: %d pads, %d faults; want 1, 0", st.Pads, st.Faults())
			}
			if f := p.Faults(); len(f) != 1 || f[0].Kind != KindPad || f[0].Sent != pad {
				t.Errorf("Faults %+v", f)
			}
			res, err = http.Get(p.URL + "/v2/app/manifests/1.0")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if st := p.Stats(); st.Pads != 1 {
				t.Errorf("a manifest GET was padded")
			}
		})
	}
	t.Run("without end", func(t *testing.T) {
		p := Start(t, backend(t, size).URL, Config{Pad: -1})
		res, err := http.Get(p.URL + "/v2/app/blobs/" + blobDigest)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, io.LimitReader(res.Body, 8<<20))
		res.Body.Close()
		if err != nil || n != 8<<20 {
			t.Fatalf("%d bytes, %v; want 8 MiB and more", n, err)
		}
	})
	if _, err := New(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Config{Pad: -2}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Pad") {
		t.Errorf("Pad -2: %v, want ErrConfig", err)
	}
}
