package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMultiple(t *testing.T) {
	for _, c := range []struct {
		n, distinct int64
		want        float64
	}{
		{100, 100, 1}, {193, 100, 1.93}, {0, 100, 0}, {5, 0, 0}, {5, -1, 0}, {1 << 40, 1 << 39, 2},
	} {
		if got := multiple(c.n, c.distinct); got != c.want {
			t.Errorf("multiple(%d, %d) = %v, want %v", c.n, c.distinct, got, c.want)
		}
	}
}

// The byte figures are the largest of the runs (a target must hold in every run), the
// wall time the median.
func TestECRSummarize(t *testing.T) {
	r := &ecrResult{Runs: []ecrRun{
		{Wall: 3 * time.Second, Egress: 100, Uploaded: 300, MountsAsked: 5, MountsDone: 1},
		{Wall: 1 * time.Second, Egress: 104, Uploaded: 100, MountsAsked: 9, MountsDone: 4},
		{Wall: 2 * time.Second, Egress: 100, Uploaded: 100, MountsAsked: 2, MountsDone: 2},
	}}
	r.summarize(100)
	if r.WallS != 2 || r.EgressX != 1.04 || r.UploadedX != 3 || r.MountsAsked != 9 || r.MountsDone != 4 {
		t.Errorf("summary %+v", r)
	}
	r.summarize(0)
	if r.EgressX != 0 || r.UploadedX != 0 {
		t.Errorf("with no distinct bytes: %+v", r)
	}
}

func ecrFixture(egressOff, egressOn, uploadedOn int64) *results {
	res := newResults(defaultOptions(true))
	res.ECRRelease = releaseStats{Images: 8, Manifests: 10, Blobs: 28, UniqueBytes: 1000, RepoBytes: 1930}
	add := func(tool string, mounting bool, egress, uploaded int64, done, asked int) {
		tr := res.ecrTool(tool, mounting)
		tr.Runs = append(tr.Runs, ecrRun{Wall: 2500 * time.Millisecond, Egress: egress, Uploaded: uploaded, MountsDone: done, MountsAsked: asked})
		tr.Verified++
	}
	add(toolTmsync, false, egressOff, 1930, 0, 40)
	add(toolSkopeo, false, 1930, 1930, 0, 50)
	add(toolTmsync, true, egressOn, uploadedOn, 14, 25)
	add(toolRaw, true, 1260, 1260, 11, 14)
	return res
}

func targetStatus(res *results, prefix string) string {
	for _, tg := range res.Targets {
		if strings.HasPrefix(tg.Target, prefix) {
			return tg.Status + " " + tg.Got
		}
	}
	return "absent"
}

func TestECRTargets(t *testing.T) {
	res := ecrFixture(1000, 1050, 1051) // 1.05 passes, 1.051 misses
	res.finish(time.Second)
	for prefix, want := range map[string]string{
		"ECR-like, BLOB_MOUNTING off: tmsync source egress": "PASS 1.000×",
		"ECR-like, BLOB_MOUNTING on: tmsync source egress":  "PASS 1.050×",
		"ECR-like, BLOB_MOUNTING on: tmsync uploaded":       "MISS 1.051×",
	} {
		if got := targetStatus(res, prefix); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q…", prefix, got, want)
		}
	}
	if res.Missed() != 1 {
		t.Errorf("missed %d, want 1", res.Missed())
	}

	// A tmsync run that failed is not judged on its bytes.
	res = ecrFixture(1000, 1000, 1000)
	res.ecrTool(toolTmsync, true).fail("run 1: boom")
	res.finish(time.Second)
	if got := targetStatus(res, "ECR-like, BLOB_MOUNTING on: tmsync uploaded"); got != "n/a not measured" {
		t.Errorf("failed run judged: %q", got)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "tmsync, ECR-like, BLOB_MOUNTING on: run 1: boom") {
		t.Errorf("notes %q", res.Notes)
	}

	// No ECR-like section at all: the targets say so.
	res = newResults(defaultOptions(true))
	res.finish(time.Second)
	if got := targetStatus(res, "ECR-like, BLOB_MOUNTING off"); got != "n/a not measured" {
		t.Errorf("without runs: %q", got)
	}
}

func TestECRTable(t *testing.T) {
	res := ecrFixture(1000, 1000, 1000)
	// Order of the rows: mounting off first, then on, tools in the order they ran.
	res.ecrTool(toolCrane, true).Runs = []ecrRun{{Wall: time.Second, Egress: 1930, Uploaded: 1930, MountsAsked: 42}}
	res.ecrTool(toolCrane, true).Verified = 1
	res.ecrTool(toolRegsync, false).fail("run 1: exit 1")
	res.finish(time.Second)
	tab := res.ecrTable()
	want := []string{
		"| tmsync | off | 2.50 | 1.00× | 1.93× | 0 / 40 | 1/1 runs |",
		"| skopeo | off | 2.50 | 1.93× | 1.93× | 0 / 50 | 1/1 runs |",
		"| regsync | off | - | - | - | - | 0/1 runs |",
		"| tmsync | on | 2.50 | 1.00× | 1.00× | 14 / 25 | 1/1 runs |",
		"| raw | on | 2.50 | 1.26× | 1.26× | 11 / 14 | 1/1 runs (reference) |",
		"| crane | on | 1.00 | 1.93× | 1.93× | 0 / 42 | 1/1 runs |",
	}
	at := -1
	for _, w := range want {
		i := strings.Index(tab, w)
		if i < 0 {
			t.Fatalf("table lacks %q:\n%s", w, tab)
		}
		if i < at {
			t.Errorf("row %q out of order:\n%s", w, tab)
		}
		at = i
	}
	if !strings.Contains(tab, "1000 distinct bytes") {
		t.Errorf("table does not give the distinct bytes:\n%s", tab)
	}
	md := res.markdown()
	if !strings.Contains(md, tab) || !strings.Contains(md, "ECR-like target (issue 15)") {
		t.Errorf("benchmarks.md lacks the ECR-like table")
	}
	// The JSON keeps the figures, and -render gives back the same table.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.ecrTable(); got != tab {
		t.Errorf("table from JSON differs:\n%s\nwant:\n%s", got, tab)
	}
	// Without the mode, nothing of it is written.
	res = newResults(defaultOptions(true))
	res.Options.ECR = false
	res.finish(time.Second)
	if md := res.markdown(); strings.Contains(md, "BLOB_MOUNTING |") || strings.Contains(md, "**ECR-like target") {
		t.Errorf("ECR-like section written with -ecr=false")
	}
}

func TestAuthsJSON(t *testing.T) {
	pw := `p"a:ss\word`
	got := authsJSON(&registry{Host: "127.0.0.1:1"}, &registry{Host: "127.0.0.1:2", User: "AWS", Password: pw}, nil)
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal([]byte(got), &cfg); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if len(cfg.Auths) != 1 {
		t.Fatalf("auths %v: want only the registry with a user", cfg.Auths)
	}
	raw, err := base64.StdEncoding.DecodeString(cfg.Auths["127.0.0.1:2"].Auth)
	if err != nil || string(raw) != "AWS:"+pw {
		t.Errorf("auth %q (%v)", raw, err)
	}
	if got := authsJSON(); got != `{"auths":{}}` {
		t.Errorf("empty: %s", got)
	}
}

func TestParseFlagsECR(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || !o.ECR || o.ECRImages != 24 {
		t.Errorf("default: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-quick"})
	if err != nil || !o.ECR || o.ECRImages != 8 {
		t.Errorf("quick: ecr %v images %d %v", o.ECR, o.ECRImages, err)
	}
	if o, err = parseFlags([]string{"-ecr=false"}); err != nil || o.ECR {
		t.Errorf("-ecr=false: %v %v", o.ECR, err)
	}
	for _, bad := range [][]string{{"-ecr-runs", "0"}, {"-ecr-images", "1"}, {"-ecr-min-layer-mb", "3", "-ecr-max-layer-mb", "2"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// Bad ECR options do not matter when the mode is off.
	if _, err := parseFlags([]string{"-ecr=false", "-ecr-runs", "0"}); err != nil {
		t.Errorf("-ecr=false -ecr-runs 0: %v", err)
	}
}

func TestBenchTB(t *testing.T) {
	dir := t.TempDir()
	tb := newBenchTB(dir)
	var order []string
	tb.Cleanup(func() { order = append(order, "first") })
	tmp := tb.TempDir()
	if !strings.HasPrefix(tmp, dir) {
		t.Errorf("TempDir %s not under %s", tmp, dir)
	}
	tb.Setenv("TMSYNC_BENCH_TB_TEST", "x")
	tb.Cleanup(func() { order = append(order, "second") })
	reached := false
	err := tb.try(func() {
		tb.Fatalf("moto: %d", 7)
		reached = true
	})
	if err == nil || err.Error() != "moto: 7" || reached {
		t.Errorf("Fatalf: err %v, went on %v", err, reached)
	}
	if !tb.Failed() {
		t.Error("not Failed after Fatalf")
	}
	if err := tb.try(func() { tb.Skip("no moto_server") }); err == nil || !strings.Contains(err.Error(), "skipped: no moto_server") {
		t.Errorf("Skip: %v", err)
	}
	if err := tb.try(func() {}); err != nil {
		t.Errorf("clean step: %v", err)
	}
	err = tb.close()
	if err == nil || !strings.Contains(err.Error(), "moto: 7") {
		t.Errorf("close: %v", err)
	}
	if strings.Join(order, ",") != "second,first" {
		t.Errorf("cleanups ran %v, want last first", order)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TempDir left: %v", err)
	}
	if _, ok := os.LookupEnv("TMSYNC_BENCH_TB_TEST"); ok {
		t.Error("Setenv not undone")
	}
	// Other panics are not swallowed.
	defer func() {
		if recover() == nil {
			t.Error("a plain panic was swallowed")
		}
	}()
	_ = newBenchTB(filepath.Join(dir, "x")).try(func() { panic("bug") })
}
