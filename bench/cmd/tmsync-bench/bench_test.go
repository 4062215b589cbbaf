package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary act as the rusage wrapper (see wrap.go).
func TestMain(m *testing.M) {
	maybeWrap()
	os.Exit(m.Run())
}

// TestQuickBench runs the bench in quick mode. It is a smoke test of the harness, not a
// measurement, and runs only with TMSYNC_BENCH=1 (never in `make test`):
//
//	TMSYNC_BENCH=1 go test -tags "$(TAGS)" -run QuickBench -v ./bench/...
//
// It needs docker-registry; the peers (skopeo, crane, regsync) and bin/tmsync are timed
// when present (bench/install-peers.sh, make build).
func TestQuickBench(t *testing.T) {
	if os.Getenv("TMSYNC_BENCH") != "1" {
		t.Skip("the bench runs only with TMSYNC_BENCH=1")
	}
	o := defaultOptions(true)
	o.Out = t.TempDir()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	o.Tmsync = filepath.Join(root, "bin", "tmsync")
	res, err := run(context.Background(), o, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.table())
	for _, tr := range append(res.Tools, res.Big...) {
		for _, e := range tr.Errors {
			t.Errorf("%s: %s", tr.Tool, e)
		}
		if len(tr.Cold) == 0 {
			t.Errorf("%s: no successful run", tr.Tool)
		}
	}
	// The ECR-like mode: every tool with mounting off and on, verified (it needs moto_server).
	if len(res.ECR) == 0 {
		t.Errorf("no ECR-like runs; notes: %v", res.Notes)
	}
	for _, tr := range res.ECR {
		for _, e := range tr.Errors {
			t.Errorf("%s, ECR-like, BLOB_MOUNTING %s: %s", tr.Tool, onOff(tr.Mounting), e)
		}
		if len(tr.Runs) == 0 || tr.Runs[0].Egress == 0 || tr.Runs[0].Uploaded == 0 {
			t.Errorf("%s, ECR-like, BLOB_MOUNTING %s: no run with bytes counted: %+v", tr.Tool, onOff(tr.Mounting), tr.Runs)
		}
	}
	for _, f := range []string{"benchmarks.md", "benchmarks.json"} {
		if _, err := os.Stat(filepath.Join(o.Out, f)); err != nil {
			t.Error(err)
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) { l.t.Log(string(b)); return len(b), nil }
