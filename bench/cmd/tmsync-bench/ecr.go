package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/testbed"
)

// The ECR-like mode (issue 15): every tool syncs a release from the source, behind a
// counting proxy (faultproxy with no faults), into the ECR stand-in of internal/testbed
// (moto's ECR API plus a distribution registry behind a proxy that applies ECR's mount
// rules), with the account setting BLOB_MOUNTING off and on. The bench records what each
// tool pulled from the source and uploaded to the target, as multiples of the release's
// distinct bytes, beside its wall time.

// benchTB is a testbed.TB for a program outside `go test`: Fatal and Skip end the
// current step (try returns their message as an error), Cleanup functions run at close,
// last first, and TempDir makes folders under dir.
type benchTB struct {
	dir string

	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

// tbAbort is what Fatal and Skip panic with; try recovers it.
type tbAbort struct{ msg string }

func newBenchTB(dir string) *benchTB { return &benchTB{dir: dir} }

func (t *benchTB) Helper() {}

func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *benchTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

func (t *benchTB) Fatal(args ...any) { t.abort(fmt.Sprint(args...)) }

func (t *benchTB) Fatalf(format string, args ...any) { t.abort(fmt.Sprintf(format, args...)) }

func (t *benchTB) Skip(args ...any) { t.abort("skipped: " + fmt.Sprint(args...)) }

func (t *benchTB) Skipf(format string, args ...any) {
	t.abort("skipped: " + fmt.Sprintf(format, args...))
}

func (t *benchTB) abort(msg string) {
	t.Errorf("%s", msg)
	panic(tbAbort{msg})
}

func (t *benchTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}

func (t *benchTB) Logf(string, ...any) {}

func (t *benchTB) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "tb-")
	if err != nil {
		t.Fatalf("temporary folder: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func (t *benchTB) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		t.Fatalf("setenv %s: %v", key, err)
	}
	t.Cleanup(func() {
		if had {
			_ = os.Setenv(key, old)
		} else {
			_ = os.Unsetenv(key)
		}
	})
}

// try runs f and turns a Fatal or Skip inside it into an error. Other panics go on.
func (t *benchTB) try(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			a, ok := v.(tbAbort)
			if !ok {
				panic(fmt.Sprintf("%v\n%s", v, debug.Stack()))
			}
			err = errors.New(a.msg)
		}
	}()
	f()
	return nil
}

// close runs the cleanups, last registered first, and returns what Errorf recorded.
func (t *benchTB) close() error {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		_ = t.try(f)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.errs) > 0 {
		return errors.New(strings.Join(t.errs, "; "))
	}
	return nil
}

// ecrRun is one cold run of a tool into a fresh ECR stand-in.
type ecrRun struct {
	Wall        time.Duration `json:"wall_ns"`
	Egress      int64         `json:"source_egress_bytes"`
	Uploaded    int64         `json:"uploaded_bytes"`
	MountsAsked int           `json:"mounts_asked"`
	MountsDone  int           `json:"mounts_done"`
	// MountOutcomes counts the mount requests by the stand-in's answer (testbed.Mount.Outcome).
	MountOutcomes map[string]int `json:"mount_outcomes,omitempty"`
	MaxRSSKB      int64          `json:"max_rss_kb,omitempty"`
}

// ecrResult is every run of one tool with BLOB_MOUNTING off or on.
type ecrResult struct {
	Tool     string   `json:"tool"`
	Mounting bool     `json:"blob_mounting"`
	Runs     []ecrRun `json:"cold_runs"`
	Verified int      `json:"verified_runs"`
	Errors   []string `json:"errors,omitempty"`
	// Filled by finish: the median wall time, and the largest multiples and mount counts
	// of all runs (a byte figure must hold in every run).
	WallS       float64 `json:"cold_median_s"`
	EgressX     float64 `json:"source_egress_x_distinct_max"`
	UploadedX   float64 `json:"uploaded_x_distinct_max"`
	MountsAsked int     `json:"mounts_asked_max"`
	MountsDone  int     `json:"mounts_done_max"`
}

func (t *ecrResult) fail(format string, args ...any) {
	t.Errors = append(t.Errors, fmt.Sprintf(format, args...))
}

// multiple is n as a multiple of distinct (0 when distinct is 0).
func multiple(n, distinct int64) float64 {
	if distinct <= 0 {
		return 0
	}
	return float64(n) / float64(distinct)
}

// summarize fills the figures of t from its runs, against distinct bytes.
func (t *ecrResult) summarize(distinct int64) {
	t.WallS = medianOf(ecrMeasures(t.Runs), secs)
	t.EgressX, t.UploadedX, t.MountsAsked, t.MountsDone = 0, 0, 0, 0
	for _, r := range t.Runs {
		t.EgressX = max(t.EgressX, multiple(r.Egress, distinct))
		t.UploadedX = max(t.UploadedX, multiple(r.Uploaded, distinct))
		t.MountsAsked = max(t.MountsAsked, r.MountsAsked)
		t.MountsDone = max(t.MountsDone, r.MountsDone)
	}
}

func ecrMeasures(rs []ecrRun) []measure {
	ms := make([]measure, len(rs))
	for i, r := range rs {
		ms[i] = measure{Wall: r.Wall, MaxRSSKB: r.MaxRSSKB}
	}
	return ms
}

// ecrBench is what the runs of the ECR-like mode share.
type ecrBench struct {
	env    *benchEnv
	moto   *testbed.Moto
	proxy  *faultproxy.Proxy
	src    *registry // the source as the tools see it: through the proxy
	imgs   []*benchImage
	relDir string
}

// startECRBench starts moto and the counting proxy in front of src. The returned tb
// owns moto; close it at the end.
func startECRBench(work string, src *registry) (*benchTB, *testbed.Moto, *faultproxy.Proxy, error) {
	tb := newBenchTB(work)
	var m *testbed.Moto
	if err := tb.try(func() { m = testbed.StartMoto(tb) }); err != nil {
		_ = tb.close()
		return nil, nil, nil, err
	}
	p, err := faultproxy.New(&url.URL{Scheme: "http", Host: src.Host}, faultproxy.Config{})
	if err != nil {
		_ = tb.close()
		return nil, nil, nil, err
	}
	tb.Cleanup(func() { _ = p.Close() })
	return tb, m, p, nil
}

// settledEgress waits (up to 3 s) until the proxy's blob byte count stops moving: the
// proxy counts a body when its copy ends, a moment after the client has read it.
func settledEgress(p *faultproxy.Proxy) int64 {
	last := p.Stats().BlobBytes()
	stable := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && stable < 3; {
		time.Sleep(50 * time.Millisecond)
		n := p.Stats().BlobBytes()
		if n == last {
			stable++
		} else {
			stable, last = 0, n
		}
	}
	return last
}

// run syncs the release with tool into a fresh ECR stand-in with BLOB_MOUNTING as given.
func (b *ecrBench) run(ctx context.Context, tool string, mounting bool, workDir string) (ecrRun, error) {
	tb := newBenchTB(b.env.work)
	var e *testbed.ECR
	err := tb.try(func() {
		b.moto.Reset(tb)
		e = testbed.StartECR(tb, b.moto)
	})
	if err != nil {
		_ = tb.close()
		return ecrRun{}, fmt.Errorf("starting the ECR stand-in: %w", err)
	}
	e.AllowViolations() // reported below, as the run's failure
	defer tb.close()
	e.SetBlobMounting(mounting)
	if tool != toolTmsync && tool != toolTmsyncAlt {
		// The peers cannot create ECR repositories: create them as tmsync does with no KMS
		// key (AES256), before the timed run.
		c := e.Client()
		for _, img := range b.imgs {
			_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
				RepositoryName: aws.String(img.Repo),
				EncryptionConfiguration: &ecrtypes.EncryptionConfiguration{
					EncryptionType: ecrtypes.EncryptionTypeAes256},
			})
			if err != nil {
				return ecrRun{}, fmt.Errorf("creating repository %s: %w", img.Repo, err)
			}
		}
	}
	dst := &registry{Host: e.Host, User: e.Username, Password: e.Password}
	e.ResetTraffic()
	b.proxy.ResetCounts()
	j := job{src: b.src, dst: dst, imgs: b.imgs, releaseDir: b.relDir, env: b.env, workDir: workDir,
		ecr: &ecrJob{APIURL: e.APIURL}}
	m, err := runTool(ctx, tool, j)
	r := ecrRun{Wall: m.Wall, MaxRSSKB: m.MaxRSSKB, Egress: settledEgress(b.proxy)}
	tr := e.Traffic()
	r.Uploaded, r.MountsAsked, r.MountsDone = tr.UploadedBytes, len(tr.Mounts), tr.MountsDone()
	for _, mt := range tr.Mounts {
		if r.MountOutcomes == nil {
			r.MountOutcomes = map[string]int{}
		}
		r.MountOutcomes[mt.Outcome]++
	}
	if err != nil {
		return r, err
	}
	if v := e.Violations(); len(v) > 0 {
		return r, fmt.Errorf("pushes that real ECR would refuse: %s", strings.Join(v, "; "))
	}
	return r, verify(ctx, dst.client(), b.imgs)
}

// ecrJob is what a tool needs to know about an ECR-like target beyond its registry.
type ecrJob struct {
	APIURL string // the ECR API endpoint (AWS_ENDPOINT_URL)
}

// ecrEnv is the environment that points the AWS SDK at the stand-in's API.
func ecrEnv(apiURL string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + apiURL,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=" + testbed.MotoRegion, "AWS_DEFAULT_REGION=" + testbed.MotoRegion,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
}

// runECRSection runs the ECR-like mode: for mounting off and on, each tool, runs times.
func runECRSection(ctx context.Context, b *ecrBench, tools []string, avail map[string]string, runs int,
	res *results, log interface{ Write([]byte) (int, error) }) error {
	for _, mounting := range []bool{false, true} {
		for r := 0; r < runs; r++ {
			for i := range tools {
				tool := tools[(i+r)%len(tools)]
				if _, ok := avail[tool]; !ok {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				tr := res.ecrTool(tool, mounting)
				dir := filepath.Join(b.env.work, fmt.Sprintf("ecr-%s-%v-%d", tool, mounting, r))
				m, err := b.run(ctx, tool, mounting, dir)
				if err != nil {
					tr.fail("run %d: %v", r+1, err)
				} else {
					tr.Verified++
					tr.Runs = append(tr.Runs, m)
				}
				logf(log, "ECR-like, BLOB_MOUNTING %s, %d/%d %-8s %.2fs egress %.2fx uploaded %.2fx mounts %d/%d",
					onOff(mounting), r+1, runs, tool, m.Wall.Seconds(), multiple(m.Egress, res.ECRRelease.UniqueBytes),
					multiple(m.Uploaded, res.ECRRelease.UniqueBytes), m.MountsDone, m.MountsAsked)
			}
		}
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
