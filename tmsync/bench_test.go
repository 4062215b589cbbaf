package tmsync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// BenchmarkNoopResync100 measures a re-sync of a 100-image release that is already in
// the target: read the release, fetch and verify 100 attestations, look up 100 tags,
// copy nothing. Issue 6's target: under 1 s. "referrers" also lists the vendor's
// referrers of every image (the CLI's default, --copy-referrers).
func BenchmarkNoopResync100(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"plain", nil},
		{"referrers", []Option{WithEvidence(Evidence{CopyReferrers: true})}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := newWorld(b)
			var images []releasetest.Image
			for i := range 100 {
				images = append(images, releasetest.Image{Repository: fmt.Sprintf("vault/svc%03d", i), Tag: "5.0.3", Layers: 1, LayerSize: 256})
			}
			images = w.push(images, 1, true)
			e := w.engine(w.release("5.0.3", images), func(c *testConfig) { c.opts = append(c.opts, bc.opts...) })
			rep, err := e.Sync(context.Background())
			if err != nil || rep.Summary.Copied != 100 {
				b.Fatalf("cold sync: %v %+v %v", err, rep.Summary, rep.ErrorLines())
			}
			before := w.att.Requests()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				rep, err := e.Sync(context.Background())
				if err != nil || rep.Summary.Present != 100 {
					b.Fatalf("re-sync: %v %+v %v", err, rep.Summary, rep.ErrorLines())
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/resync")
			b.ReportMetric(float64(w.att.Requests()-before)/float64(b.N), "attestation-requests/op")
		})
	}
}

// BenchmarkColdSync20 measures a cold sync of 20 images of 4 × 64 KiB layers sharing
// one base, images in parallel.
func BenchmarkColdSync20(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		w := newWorld(b)
		base, _ := releasetest.RandomLayer(7, 64<<10)
		var images []releasetest.Image
		for i := range 20 {
			images = append(images, releasetest.Image{Repository: fmt.Sprintf("vault/svc%02d", i), Tag: "5.0.3",
				Layers: 3, LayerSize: 64 << 10, Base: []releasetest.Layer{base}})
		}
		images = w.push(images, 1, true)
		e := w.engine(w.release("5.0.3", images), nil)
		b.StartTimer()
		rep, err := e.Sync(context.Background())
		if err != nil || rep.Summary.Copied != 20 {
			b.Fatalf("cold sync: %v %+v %v", err, rep.Summary, rep.ErrorLines())
		}
	}
}
