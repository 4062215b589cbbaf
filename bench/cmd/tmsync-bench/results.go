package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// toolResult is every run of one tool on one workload.
type toolResult struct {
	Tool     string    `json:"tool"`
	Cold     []measure `json:"cold_runs"`
	Noop     []measure `json:"noop_runs,omitempty"`
	Verified int       `json:"verified_runs"`
	Stored   int64     `json:"stored_bytes,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
	// Medians, filled by finish.
	ColdS    float64 `json:"cold_median_s"`
	NoopS    float64 `json:"noop_median_s,omitempty"`
	RSSMB    float64 `json:"peak_rss_median_mb"`
	NoopRSS  float64 `json:"noop_peak_rss_median_mb,omitempty"`
	MBps     float64 `json:"mb_per_s,omitempty"`
	Requests int     `json:"attestation_requests_max,omitempty"`
	// CPU seconds of the cold runs (medians): the tool, the source registry, the target.
	ToolCPUS   float64 `json:"cold_tool_cpu_median_s,omitempty"`
	SourceCPUS float64 `json:"cold_source_cpu_median_s,omitempty"`
	TargetCPUS float64 `json:"cold_target_cpu_median_s,omitempty"`
}

func (t *toolResult) fail(format string, args ...any) {
	t.Errors = append(t.Errors, fmt.Sprintf(format, args...))
}

type targetResult struct {
	Target string `json:"target"`
	Got    string `json:"measured"`
	Status string `json:"status"` // PASS, MISS or n/a
}

type machine struct {
	CPU    string `json:"cpu"`
	Nproc  int    `json:"nproc"`
	MemGiB string `json:"memory"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	// Load averages (1 min) at the start and the end: other work on the machine skews figures.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

type results struct {
	Date     string            `json:"date"`
	Duration string            `json:"duration"`
	Machine  machine           `json:"machine"`
	Options  options           `json:"options"`
	Storage  string            `json:"registry_storage"`
	Release  releaseStats      `json:"release"`
	BigBytes int64             `json:"large_layer_bytes,omitempty"`
	Versions map[string]string `json:"versions"`
	Installs []string          `json:"installs,omitempty"`
	Tools    []*toolResult     `json:"release_sync"`
	Big      []*toolResult     `json:"large_layer"`
	// The ECR-like mode (issue 15): its release and every tool with BLOB_MOUNTING off and on.
	ECRRelease releaseStats   `json:"ecr_release,omitempty"`
	ECR        []*ecrResult   `json:"ecr_like,omitempty"`
	Targets    []targetResult `json:"targets"`
	Notes      []string       `json:"notes,omitempty"`
}

func newResults(o options) *results {
	return &results{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Options: o}
}

func (r *results) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *results) tool(name string) *toolResult    { return find(&r.Tools, name) }
func (r *results) bigTool(name string) *toolResult { return find(&r.Big, name) }

// ecrTool is the ECR-like result of tool with BLOB_MOUNTING as given.
func (r *results) ecrTool(name string, mounting bool) *ecrResult {
	for _, t := range r.ECR {
		if t.Tool == name && t.Mounting == mounting {
			return t
		}
	}
	t := &ecrResult{Tool: name, Mounting: mounting}
	r.ECR = append(r.ECR, t)
	return t
}

func find(list *[]*toolResult, name string) *toolResult {
	for _, t := range *list {
		if t.Tool == name {
			return t
		}
	}
	t := &toolResult{Tool: name}
	*list = append(*list, t)
	return t
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf(ms []measure, f func(measure) float64) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	return median(xs)
}

func secs(m measure) float64  { return m.Wall.Seconds() }
func rssMB(m measure) float64 { return float64(m.MaxRSSKB) / 1024 }

// finish computes the medians and judges the targets of issue 8.
func (r *results) finish(d time.Duration) {
	r.Duration = d.Round(time.Second).String()
	r.Machine.LoadEnd = loadAvg()
	for _, t := range append(slices.Clone(r.Tools), r.Big...) {
		t.ColdS, t.NoopS = medianOf(t.Cold, secs), medianOf(t.Noop, secs)
		t.RSSMB, t.NoopRSS = medianOf(t.Cold, rssMB), medianOf(t.Noop, rssMB)
		t.ToolCPUS = medianOf(t.Cold, func(m measure) float64 { return m.ToolCPU.Seconds() })
		t.SourceCPUS = medianOf(t.Cold, func(m measure) float64 { return m.SourceCPU.Seconds() })
		t.TargetCPUS = medianOf(t.Cold, func(m measure) float64 { return m.TargetCPU.Seconds() })
		for _, m := range append(slices.Clone(t.Cold), t.Noop...) {
			t.Requests = max(t.Requests, m.Requests)
		}
	}
	for _, t := range r.Big {
		if t.ColdS > 0 {
			t.MBps = float64(r.BigBytes) / 1e6 / t.ColdS
		}
	}
	get := func(list []*toolResult, name string) *toolResult {
		for _, t := range list {
			if t.Tool == name && len(t.Cold) > 0 && len(t.Errors) == 0 {
				return t
			}
		}
		return nil
	}
	add := func(target, got string, ok, known bool) {
		st := "n/a"
		if known {
			st = "MISS"
			if ok {
				st = "PASS"
			}
		}
		r.Targets = append(r.Targets, targetResult{target, got, st})
	}
	tm, sk, cr, rs := get(r.Tools, toolTmsync), get(r.Tools, toolSkopeo), get(r.Tools, toolCrane), get(r.Tools, toolRegsync)
	ratio := func(a, b float64) string { return fmt.Sprintf("%.2f s / %.2f s = %.2f", a, b, a/b) }
	// Cold sync.
	if tm != nil && sk != nil {
		add("cold sync: tmsync ≤ 0.5 × skopeo sync", ratio(tm.ColdS, sk.ColdS), tm.ColdS <= 0.5*sk.ColdS, true)
	} else {
		add("cold sync: tmsync ≤ 0.5 × skopeo sync", "not measured", false, false)
	}
	var best *toolResult
	for _, t := range []*toolResult{cr, rs} {
		if t != nil && (best == nil || t.ColdS < best.ColdS) {
			best = t
		}
	}
	if tm != nil && best != nil {
		add("cold sync: tmsync ≤ 0.9 × best of crane, regsync", ratio(tm.ColdS, best.ColdS)+" ("+best.Tool+")", tm.ColdS <= 0.9*best.ColdS, true)
	} else {
		add("cold sync: tmsync ≤ 0.9 × best of crane, regsync", "not measured", false, false)
	}
	// No-op.
	if tm != nil && sk != nil && len(tm.Noop) > 0 && len(sk.Noop) > 0 {
		add("no-op re-sync: tmsync ≤ 0.1 × skopeo sync", ratio(tm.NoopS, sk.NoopS), tm.NoopS <= 0.1*sk.NoopS, true)
	} else {
		add("no-op re-sync: tmsync ≤ 0.1 × skopeo sync", "not measured", false, false)
	}
	if tm != nil && rs != nil && len(tm.Noop) > 0 && len(rs.Noop) > 0 {
		add("no-op re-sync: tmsync ≤ regsync", ratio(tm.NoopS, rs.NoopS), tm.NoopS <= rs.NoopS, true)
	} else {
		add("no-op re-sync: tmsync ≤ regsync", "not measured", false, false)
	}
	// Large layer.
	btm, braw := get(r.Big, toolTmsync), get(r.Big, toolRaw)
	if btm != nil && braw != nil {
		add("large layer: tmsync throughput ≥ 0.7 × raw streaming",
			fmt.Sprintf("%.0f MB/s / %.0f MB/s = %.2f", btm.MBps, braw.MBps, btm.MBps/braw.MBps), btm.MBps >= 0.7*braw.MBps, true)
	} else {
		add("large layer: tmsync throughput ≥ 0.7 × raw streaming", "not measured", false, false)
	}
	if btm != nil {
		add(fmt.Sprintf("peak RSS of tmsync with a %d MiB layer ≤ 150 MB", r.BigBytes>>20),
			fmt.Sprintf("%.0f MB", btm.RSSMB), btm.RSSMB <= 150, true)
	} else {
		add("peak RSS of tmsync with a 1 GiB layer ≤ 150 MB", "not measured", false, false)
	}
	if tm != nil {
		add("attestation check ≤ 3 requests per run", fmt.Sprintf("%d (largest of all runs)", tm.Requests), tm.Requests <= 3, true)
	} else {
		add("attestation check ≤ 3 requests per run", "not measured", false, false)
	}
	r.ecrTargets(add)
	for _, t := range append(slices.Clone(r.Tools), r.Big...) {
		for _, e := range t.Errors {
			r.note("%s: %s", t.Tool, e)
		}
	}
	for _, t := range r.ECR {
		for _, e := range t.Errors {
			r.note("%s, ECR-like, BLOB_MOUNTING %s: %s", t.Tool, onOff(t.Mounting), e)
		}
	}
}

// ecrTargets summarizes the ECR-like runs and judges issue 15's byte targets on tmsync:
// the largest multiple over its runs, so a target holds in every run.
func (r *results) ecrTargets(add func(target, got string, ok, known bool)) {
	for _, t := range r.ECR {
		t.summarize(r.ECRRelease.UniqueBytes)
	}
	tm := func(mounting bool) *ecrResult {
		for _, t := range r.ECR {
			if t.Tool == toolTmsync && t.Mounting == mounting && len(t.Runs) > 0 && len(t.Errors) == 0 {
				return t
			}
		}
		return nil
	}
	judge := func(target string, t *ecrResult, x float64) {
		if t == nil || r.ECRRelease.UniqueBytes == 0 {
			add(target, "not measured", false, false)
			return
		}
		add(target, fmt.Sprintf("%.3f× (largest of %d run(s))", x, len(t.Runs)), x <= 1.05, true)
	}
	off, on := tm(false), tm(true)
	judge("ECR-like, BLOB_MOUNTING off: tmsync source egress ≤ 1.05 × distinct bytes", off, egressOf(off))
	judge("ECR-like, BLOB_MOUNTING on: tmsync source egress ≤ 1.05 × distinct bytes", on, egressOf(on))
	judge("ECR-like, BLOB_MOUNTING on: tmsync uploaded ≤ 1.05 × distinct bytes", on, uploadedOf(on))
}

func egressOf(t *ecrResult) float64 {
	if t == nil {
		return 0
	}
	return t.EgressX
}

func uploadedOf(t *ecrResult) float64 {
	if t == nil {
		return 0
	}
	return t.UploadedX
}

// Missed is the number of targets missed.
func (r *results) Missed() int {
	n := 0
	for _, t := range r.Targets {
		if t.Status == "MISS" {
			n++
		}
	}
	return n
}

func fmtS(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtRatio(v, ref float64) string {
	if v == 0 || ref == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", v/ref)
}

// fmtX is a multiple of the distinct bytes.
func fmtX(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", v)
}

// ecrTable is the ECR-like table: per tool and BLOB_MOUNTING, bytes as multiples of the
// distinct bytes next to the wall time.
func (r *results) ecrTable() string {
	var b strings.Builder
	rel := r.ECRRelease
	fmt.Fprintf(&b, "ECR-like target (issue 15): %d images (%d manifests), %d distinct blobs, %d distinct bytes (%.1f MB; %.1f MB counted per repository); cold runs into a fresh ECR stand-in, median wall time of %d run(s), byte multiples the largest of the runs.\n\n",
		rel.Images, rel.Manifests, rel.Blobs, rel.UniqueBytes, float64(rel.UniqueBytes)/1e6, float64(rel.RepoBytes)/1e6, r.Options.ECRRuns)
	b.WriteString("| tool | BLOB_MOUNTING | wall s | pulled from source × distinct | uploaded to target × distinct | mounts done / asked | digests equal |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|\n")
	for _, mounting := range []bool{false, true} {
		for _, t := range r.ECR {
			if t.Mounting != mounting {
				continue
			}
			mounts := "-"
			if len(t.Runs) > 0 {
				mounts = fmt.Sprintf("%d / %d", t.MountsDone, t.MountsAsked)
			}
			ok := fmt.Sprintf("%d/%d runs", t.Verified, r.Options.ECRRuns)
			if t.Tool == toolRaw {
				ok += " (reference)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", t.Tool, onOff(mounting), fmtS(t.WallS),
				fmtX(t.EgressX), fmtX(t.UploadedX), mounts, ok)
		}
	}
	return b.String()
}

// table is the Markdown tables and the targets.
func (r *results) table() string {
	var b strings.Builder
	ref := func(list []*toolResult) *toolResult {
		for _, t := range list {
			if t.Tool == toolTmsync {
				return t
			}
		}
		return &toolResult{}
	}
	tm := ref(r.Tools)
	fmt.Fprintf(&b, "Release: %d images (%d manifests), %d distinct blobs, %.0f MB distinct, %.0f MB counted per repository; median of %d run(s), %d jobs.\n\n",
		r.Release.Images, r.Release.Manifests, r.Release.Blobs, float64(r.Release.UniqueBytes)/1e6,
		float64(r.Release.RepoBytes)/1e6, r.Options.Runs, r.Options.Jobs)
	b.WriteString("| tool | cold s | cold × tmsync | no-op s | no-op × tmsync | MB in target | peak RSS MB (cold / no-op) | cold CPU s: tool / source / target | digests equal |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, t := range r.Tools {
		rss := "-"
		if !inProcess(t.Tool) && len(t.Cold) > 0 {
			rss = fmt.Sprintf("%.0f / %.0f", t.RSSMB, t.NoopRSS)
		}
		ok := fmt.Sprintf("%d/%d runs", t.Verified, r.Options.Runs)
		noop := fmtS(t.NoopS)
		if inProcess(t.Tool) {
			noop, ok = "n/a", ok+" (reference)"
		}
		cpu := "-"
		if t.ToolCPUS > 0 {
			cpu = fmt.Sprintf("%.1f / %.1f / %.1f", t.ToolCPUS, t.SourceCPUS, t.TargetCPUS)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.0f | %s | %s | %s |\n", t.Tool, fmtS(t.ColdS), fmtRatio(t.ColdS, tm.ColdS),
			noop, fmtRatio(t.NoopS, tm.NoopS), float64(t.Stored)/1e6, rss, cpu, ok)
	}
	if len(r.Big) > 0 {
		btm := ref(r.Big)
		fmt.Fprintf(&b, "\nOne image with one %d MiB layer, into a fresh target:\n\n", r.BigBytes>>20)
		b.WriteString("| tool | s | × tmsync | MB/s | peak RSS MB |\n|---|---:|---:|---:|---:|\n")
		for _, t := range r.Big {
			rss := "-"
			if t.Tool != toolRaw && len(t.Cold) > 0 {
				rss = fmt.Sprintf("%.0f", t.RSSMB)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %s |\n", t.Tool, fmtS(t.ColdS), fmtRatio(t.ColdS, btm.ColdS), t.MBps, rss)
		}
	}
	if len(r.ECR) > 0 {
		b.WriteString("\n" + r.ecrTable())
	}
	b.WriteString("\n| target | measured | |\n|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target, t.Got, t.Status)
	}
	return b.String()
}

func (r *results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "benchmarks.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "benchmarks.md"), []byte(r.markdown()), 0o644)
}

func (r *results) markdown() string {
	var b strings.Builder
	b.WriteString("# Benchmarks: tmsync against its peers\n\n")
	b.WriteString("Written by `make bench` (`bench/cmd/tmsync-bench`); the raw figures are in `benchmarks.json`.\n\n")
	fmt.Fprintf(&b, "- Date: %s (run took %s)\n", r.Date, r.Duration)
	fmt.Fprintf(&b, "- Machine: %s, %d CPUs (nproc), %s memory, Linux %s, %s\n", r.Machine.CPU, r.Machine.Nproc, r.Machine.MemGiB, r.Machine.Kernel, r.Machine.Go)
	names := make([]string, 0, len(r.Versions))
	for k := range r.Versions {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "- %s: %s\n", n, r.Versions[n])
	}
	fmt.Fprintf(&b, "- Load average (1 min) at start / end: %s / %s (other work on the machine makes figures noisy)\n", r.Machine.LoadStart, r.Machine.LoadEnd)
	fmt.Fprintf(&b, "- Registry storage: %s\n", r.Storage)
	for _, l := range r.Installs {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if r.Options.Quick {
		b.WriteString("- **Quick mode** (smoke test): small images, one run; not the figures of record.\n")
	}
	b.WriteString("\n## Set-up\n\n")
	b.WriteString("Everything runs on 127.0.0.1. The source is a distribution registry (`docker-registry`, filesystem\n" +
		"storage, htpasswd basic auth as the vendor's `_tm` user); every run gets a fresh, empty target registry.\n" +
		"The synthetic release: images of 3-6 OCI layers (valid tar+gzip of random bytes), two base layers shared by\n" +
		"all images but every eighth, one multi-arch index (linux/amd64 + linux/arm64), a `<version>_release.json`\n" +
		"pinning every image by digest, and a signed Grafeas attestation for each, served by a local attestation server.\n\n")
	fmt.Fprintf(&b, "Every tool gets the same parallelism (%d):\n\n", r.Options.Jobs)
	fmt.Fprintf(&b, "- **tmsync**: `tmsync sync --target registry --concurrency %d` with the release folder, attestations checked.\n", r.Options.Jobs)
	b.WriteString("- **skopeo**: `skopeo sync --src yaml --dest docker --all --preserve-digests`; one process, sequential (skopeo 1.9\n" +
		"  has no parallel option). Images listed by tag: a digest in skopeo 1.9's YAML is copied untagged.\n")
	fmt.Fprintf(&b, "- **crane**: one `crane copy SRC@digest DST:tag` per image, %d processes at a time (as `xargs -P %d`); peak RSS is the largest process.\n", r.Options.Jobs, r.Options.Jobs)
	fmt.Fprintf(&b, "- **regsync**: `regsync once` with `parallel: %d`, sources pinned by digest, `tls: disabled`.\n", r.Options.Jobs)
	fmt.Fprintf(&b, "- **raw**: the physical reference, in-process Go: each distinct blob streamed once (GET from the source piped\n"+
		"  into one streamed upload on the target: POST, one PATCH with the body, PUT), %d at a time, shared blobs mounted across repositories, then the manifests\n"+
		"  put. No existence checks, retries, verification or attestation.\n", r.Options.Jobs)
	fmt.Fprintf(&b, "- **cimage**: containers/image's `copy.Image` and nothing else, in-process: every image by digest, %d at a time,\n"+
		"  one blob-info cache for the run (shared blobs mounted). No plan, store, retries or attestation: the floor of a copy built on it.\n", r.Options.Jobs)
	switch {
	case r.Options.TmsyncAltNote != "":
		fmt.Fprintf(&b, "- **tmsync-alt**: another tmsync build, same flags: %s.\n", r.Options.TmsyncAltNote)
	case r.Options.TmsyncAlt != "":
		b.WriteString("- **tmsync-alt** (experiment): another tmsync build, with a candidate fix (see the analysis below).\n")
	}
	if r.Options.TmsyncArgs != "" {
		fmt.Fprintf(&b, "- **experiment**: every tmsync build ran with the extra flags `%s` (TMSYNC_BENCH_ARGS).\n", r.Options.TmsyncArgs)
	}
	b.WriteString("\nCold: into an empty target. No-op: the same command again right after, into the now full target.\n" +
		"After every cold run the bench checks that each tag in the target has the source's digest and that every\n" +
		"blob is in place. Wall time is from process start to exit; peak RSS is the child's `ru_maxrss`.\n" +
		"Figures are medians over the runs; the order of the tools rotates between rounds.\n\n")
	if r.Options.ECR {
		b.WriteString(ecrSetup)
	}
	b.WriteString("## Results\n\n")
	b.WriteString(r.table())
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(tail(n, 1500), "\n", " "))
		}
	}
	if s := analysisText(); s != "" {
		b.WriteString("\n" + s)
	}
	return b.String()
}

// ecrSetup describes the ECR-like mode in benchmarks.md.
const ecrSetup = "**ECR-like target (issue 15).** A second, smaller release of the same shape (`-ecr-images`, layers of\n" +
	"`-ecr-min-layer-mb` to `-ecr-max-layer-mb`; two shared base layers, one multi-arch index; smaller because the main\n" +
	"release took ~7 min for this mode alone on the 2-core machine) is pulled through a counting\n" +
	"proxy in front of the source (`internal/faultproxy`, no faults: it counts the blob bytes the source sends) into\n" +
	"the ECR stand-in of `internal/testbed`: moto's ECR API and a distribution registry behind a proxy that applies ECR's\n" +
	"rules (pushes only into created repositories; with `BLOB_MOUNTING` off a mount request becomes an ordinary upload,\n" +
	"202; with it on a mount succeeds only from a repository whose committed manifest references the blob) and counts\n" +
	"the blob bytes uploaded and the mounts asked and done. Every run gets a fresh stand-in (moto reset, empty\n" +
	"registry) with the setting set by the bench, the same for every tool. tmsync runs `sync --target ecr` (AWS SDK\n" +
	"pointed at the stand-in, AES256 repositories created within its timed run, `--throttle_ecr_creation_ms 5`); the\n" +
	"peers cannot create ECR repositories, so the bench creates them (AES256) before their timed run and gives them the\n" +
	"registry credentials (skopeo auth file, crane `DOCKER_CONFIG`, regsync config). After every run the bench checks\n" +
	"that each tag has the source's digest and every blob is in place. Multiples are of the release's distinct blob\n" +
	"bytes (configs and layers, each counted once).\n\n"

// analysisText is a hand-written section kept in bench/analysis.md, appended when present.
func analysisText() string {
	for _, p := range []string{filepath.Join("bench", "analysis.md"), "analysis.md"} {
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	return ""
}

func machineInfo() machine {
	m := machine{Nproc: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemGiB = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	m.LoadStart = loadAvg()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

var installLine = regexp.MustCompile(`^install-peers: .*(installed in|present)`)

func readInstallLog(path string) []string {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if installLine.MatchString(l) {
			out = append(out, strings.TrimPrefix(l, "install-peers: "))
		}
	}
	return out
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
