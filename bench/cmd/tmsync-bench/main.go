// Command tmsync-bench times tmsync against its peers (skopeo sync, crane copy, regsync once)
// and against the physical reference (blobs streamed straight from registry to registry)
// on 127.0.0.1 only, and writes docs/benchmarks.md and docs/benchmarks.json.
//
// It starts a source registry (distribution, htpasswd auth) and a fresh target registry for
// every run, pushes a synthetic release (40 images of 3-6 layers of 1-20 MB, two base
// layers shared by most, one multi-arch index) with its release JSON and signed
// attestations, then times each tool cold and as a no-op re-sync, checks that every
// target holds the source's digests, and measures tmsync's peak RSS on a 1 GiB layer.
//
// Run it with `make bench` (which installs the peers and builds tmsync), or
//
//	go run -tags "$(TAGS)" ./bench/cmd/tmsync-bench [-quick] [-runs N] ...
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	Quick      bool    `json:"quick"`
	Runs       int     `json:"runs"`
	Images     int     `json:"images"`
	MinLayerMB float64 `json:"min_layer_mb"`
	MaxLayerMB float64 `json:"max_layer_mb"`
	BigMiB     int     `json:"big_layer_mib"`
	Jobs       int     `json:"jobs"`
	Tools      string  `json:"tools"`
	BigTools   string  `json:"big_tools"`
	Out        string  `json:"-"`
	Tmsync     string  `json:"-"`
	TmsyncAlt  string  `json:"tmsync_alt,omitempty"`
	// TmsyncAltNote says what the tmsync-alt build is (a candidate fix, an older release).
	TmsyncAltNote string `json:"tmsync_alt_note,omitempty"`
	// TmsyncArgs is TMSYNC_BENCH_ARGS, extra flags given to tmsync in an experiment.
	TmsyncArgs string `json:"tmsync_extra_args,omitempty"`
	Work       string `json:"-"`
	Keep       bool   `json:"-"`
	InstallLog string `json:"-"`
	Seed       uint64 `json:"seed"`
	Render     bool   `json:"-"`
	// The ECR-like mode (issue 15).
	ECR           bool    `json:"ecr"`
	ECRRuns       int     `json:"ecr_runs"`
	ECRImages     int     `json:"ecr_images"`
	ECRMinLayerMB float64 `json:"ecr_min_layer_mb"`
	ECRMaxLayerMB float64 `json:"ecr_max_layer_mb"`
	ECRTools      string  `json:"ecr_tools"`
}

func defaultOptions(quick bool) options {
	o := options{Runs: 3, Images: 40, MinLayerMB: 1, MaxLayerMB: 20, BigMiB: 1024, Jobs: 4,
		Tools: "tmsync,skopeo,crane,regsync,cimage,raw", BigTools: "tmsync,raw,skopeo,crane,regsync",
		Out: "docs", Tmsync: "bin/tmsync", Seed: 1,
		ECR: true, ECRRuns: 1, ECRImages: 24, ECRMinLayerMB: 1, ECRMaxLayerMB: 4, ECRTools: "tmsync,skopeo,crane,regsync,raw"}
	if quick {
		o.Quick, o.Runs, o.Images, o.MinLayerMB, o.MaxLayerMB, o.BigMiB = true, 1, 8, 0.25, 2, 64
		o.ECRImages, o.ECRMinLayerMB, o.ECRMaxLayerMB = 8, 0.25, 2
		o.BigTools = "tmsync,raw"
		o.Out = filepath.Join("bench", "out")
	}
	return o
}

func parseFlags(args []string) (options, error) {
	quick := false
	for _, a := range args {
		if a == "-quick" || a == "--quick" || a == "-quick=true" || a == "--quick=true" {
			quick = true
		}
	}
	o := defaultOptions(quick)
	fs := flag.NewFlagSet("tmsync-bench", flag.ContinueOnError)
	fs.BoolVar(&o.Quick, "quick", o.Quick, "smoke test: 8 small images, a 64 MiB big layer, 1 run, results in bench/out")
	fs.IntVar(&o.Runs, "runs", o.Runs, "runs of every measurement (the median is reported)")
	fs.IntVar(&o.Images, "images", o.Images, "images in the release (one is a multi-arch index)")
	fs.Float64Var(&o.MinLayerMB, "min-layer-mb", o.MinLayerMB, "smallest layer, MB")
	fs.Float64Var(&o.MaxLayerMB, "max-layer-mb", o.MaxLayerMB, "largest layer, MB")
	fs.IntVar(&o.BigMiB, "big-mib", o.BigMiB, "size of the single large layer, MiB (0: skip)")
	fs.IntVar(&o.Jobs, "jobs", o.Jobs, "parallelism given to every tool")
	fs.StringVar(&o.Tools, "tools", o.Tools, "tools timed on the release")
	fs.StringVar(&o.BigTools, "big-tools", o.BigTools, "tools timed on the large layer")
	fs.StringVar(&o.Out, "out", o.Out, "folder for benchmarks.md and benchmarks.json")
	fs.StringVar(&o.Tmsync, "tmsync", o.Tmsync, "tmsync binary")
	fs.StringVar(&o.TmsyncAlt, "tmsync-alt", "", "another tmsync binary (a candidate fix) timed as tmsync-alt on the release")
	fs.StringVar(&o.TmsyncAltNote, "tmsync-alt-note", "", "what the -tmsync-alt build is, for benchmarks.md (e.g. \"main before issue 15, d86013e\")")
	fs.StringVar(&o.Work, "work", "", "working folder (default: a new temporary folder)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the working folder")
	fs.StringVar(&o.InstallLog, "install-log", "", "output of bench/install-peers.sh, for the install times")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the synthetic release")
	fs.BoolVar(&o.Render, "render", false, "only rewrite OUT/benchmarks.md from OUT/benchmarks.json and bench/analysis.md")
	fs.BoolVar(&o.ECR, "ecr", o.ECR, "run the ECR-like mode (issue 15): every tool into the ECR stand-in with BLOB_MOUNTING off and on, bytes pulled and uploaded (-ecr=false skips it)")
	fs.IntVar(&o.ECRRuns, "ecr-runs", o.ECRRuns, "runs of every ECR-like measurement")
	fs.IntVar(&o.ECRImages, "ecr-images", o.ECRImages, "images in the ECR-like release (same shape as the main one)")
	fs.Float64Var(&o.ECRMinLayerMB, "ecr-min-layer-mb", o.ECRMinLayerMB, "smallest layer of the ECR-like release, MB")
	fs.Float64Var(&o.ECRMaxLayerMB, "ecr-max-layer-mb", o.ECRMaxLayerMB, "largest layer of the ECR-like release, MB")
	fs.StringVar(&o.ECRTools, "ecr-tools", o.ECRTools, "tools timed in the ECR-like mode")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.TmsyncArgs = os.Getenv("TMSYNC_BENCH_ARGS")
	if o.Runs < 1 || o.Images < 2 || o.Jobs < 1 || o.MinLayerMB <= 0 || o.MaxLayerMB < o.MinLayerMB {
		return o, fmt.Errorf("bad options: runs ≥ 1, images ≥ 2, jobs ≥ 1, 0 < min-layer-mb ≤ max-layer-mb")
	}
	if o.ECR && (o.ECRRuns < 1 || o.ECRImages < 2 || o.ECRMinLayerMB <= 0 || o.ECRMaxLayerMB < o.ECRMinLayerMB) {
		return o, fmt.Errorf("bad options: ecr-runs ≥ 1, ecr-images ≥ 2, 0 < ecr-min-layer-mb ≤ ecr-max-layer-mb")
	}
	return o, nil
}

// attestInfo is the attestation server of a run and the attestor's key file.
type attestInfo struct {
	URL      string
	KeyFile  string
	Requests func() int
	Close    func()
}

// subject is an image an attestation vouches for.
type subject struct{ Repository, Digest string }

// newAttestations signs an attestation for every subject and serves them; it is set by
// attest.go (package attest/attesttest). Without it tmsync is not run.
var newAttestations func(dir, token string, subs []subject) (*attestInfo, error)

// benchEnv is what every run shares.
type benchEnv struct {
	opts      options
	tmsyncBin string
	tmsyncAlt string
	attest    *attestInfo
	work      string
}

func main() {
	maybeWrap()
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if o.Render {
		// Rewrite benchmarks.md from benchmarks.json (after editing bench/analysis.md).
		b, err := os.ReadFile(filepath.Join(o.Out, "benchmarks.json"))
		if err == nil {
			var res results
			if err = json.Unmarshal(b, &res); err == nil {
				err = os.WriteFile(filepath.Join(o.Out, "benchmarks.md"), []byte(res.markdown()), 0o644)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tmsync-bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tmsync-bench:", err)
		os.Exit(1)
	}
	fmt.Print(res.table())
	if res.Missed() > 0 {
		fmt.Fprintf(os.Stderr, "tmsync-bench: %d target(s) missed\n", res.Missed())
	}
}

func logf(w interface{ Write([]byte) (int, error) }, format string, args ...any) {
	fmt.Fprintf(w, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run does the whole benchmark and writes the results into o.Out.
func run(ctx context.Context, o options, log interface{ Write([]byte) (int, error) }) (*results, error) {
	started := time.Now()
	// The Go tools installed by install-peers.sh live in GOPATH/bin.
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		os.Setenv("PATH", os.Getenv("PATH")+string(os.PathListSeparator)+filepath.Join(strings.TrimSpace(string(gp)), "bin"))
	}
	work := o.Work
	if work == "" {
		// Registry storage in memory when there is room: distribution fsyncs every blob it
		// commits, and on a virtual disk that, not the tools, would be what is measured.
		need := uint64(float64(o.Images)*o.MaxLayerMB*4e6) + uint64(o.BigMiB)<<22 + 1<<30
		parent := ""
		var st syscall.Statfs_t
		if syscall.Statfs("/dev/shm", &st) == nil && st.Bavail*uint64(st.Bsize) > need {
			parent = "/dev/shm"
		}
		var err error
		if work, err = os.MkdirTemp(parent, "tmsync-bench-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if !o.Keep {
		defer os.RemoveAll(work)
	}
	env := &benchEnv{opts: o, work: work}
	res := newResults(o)
	res.Storage = storageKind(work)
	res.Machine = machineInfo()
	res.Installs = readInstallLog(o.InstallLog)

	// Which tools can run.
	tools, bigTools := splitList(o.Tools), splitList(o.BigTools)
	avail := map[string]string{toolRaw: "in-process Go (net/http)", toolCImage: "in-process containers/image copy.Image (go.podman.io/image/v5)",
		toolOwnUpload: "in-process: own blob uploads, then copy.Image", toolOwnUploadHEAD: "in-process: own blob uploads after a HEAD, then copy.Image"}
	for _, t := range []string{toolSkopeo, toolCrane, toolRegsync} {
		if _, err := exec.LookPath(t); err != nil {
			res.note("%s is not installed (bench/install-peers.sh installs it): skipped", t)
			continue
		}
		avail[t] = toolVersion(t)
	}
	if bin, err := filepath.Abs(o.Tmsync); err == nil {
		if fi, err := os.Stat(bin); err == nil && !fi.IsDir() {
			env.tmsyncBin = bin
		}
	}
	switch {
	case env.tmsyncBin == "":
		res.note("tmsync binary %s not found (`make build`): tmsync skipped", o.Tmsync)
	case newAttestations == nil:
		res.note("attestation test server (attest/attesttest) not available in this build: tmsync skipped")
	default:
		avail[toolTmsync] = toolVersion(env.tmsyncBin)
		if o.TmsyncAlt != "" {
			if bin, err := filepath.Abs(o.TmsyncAlt); err == nil {
				if _, err := os.Stat(bin); err == nil {
					env.tmsyncAlt = bin
					avail[toolTmsyncAlt] = toolVersion(bin) + " (" + o.TmsyncAlt + ", experiment)"
					if !strings.Contains(","+o.Tools+",", ","+toolTmsyncAlt+",") {
						tools = append(tools, toolTmsyncAlt)
					}
				}
			}
		}
	}
	res.Versions = map[string]string{}
	for _, t := range append(append([]string{}, tools...), bigTools...) {
		if v, ok := avail[t]; ok {
			res.Versions[t] = v
		}
	}

	token := randomToken()
	logf(log, "starting the source registry")
	src, err := startRegistry(ctx, work, "source", "_tm", token)
	if err != nil {
		return nil, err
	}
	defer src.stop()
	sc := src.client()

	mb := func(f float64) int64 { return int64(f * 1e6) }
	spec := releaseSpec{Images: o.Images, MinLayer: mb(o.MinLayerMB), MaxLayer: mb(o.MaxLayerMB),
		SharedEvery: 8, Version: "9.9.0", RepoPrefix: "vault/", Parallel: 2,
		BaseSizes: [2]int64{mb(o.MaxLayerMB), mb((o.MinLayerMB + o.MaxLayerMB) / 2)},
		Seed:      o.Seed, IndexImage: true, LayersPerImg: [2]int{3, 6}}
	logf(log, "pushing the synthetic release (%d images) into %s", o.Images, src.Host)
	t0 := time.Now()
	imgs, err := genRelease(ctx, sc, spec, work)
	if err != nil {
		return nil, fmt.Errorf("generating the release: %w", err)
	}
	relDir := filepath.Join(work, "release")
	if _, err := writeRelease(relDir, spec.Version, src.Host, imgs); err != nil {
		return nil, err
	}
	res.Release = statsOf(imgs)
	logf(log, "release: %d images, %d manifests, %d distinct blobs, %.0f MB distinct (%.0f MB counted per repository) in %.1f s",
		res.Release.Images, res.Release.Manifests, res.Release.Blobs, float64(res.Release.UniqueBytes)/1e6,
		float64(res.Release.RepoBytes)/1e6, time.Since(t0).Seconds())

	var big *benchImage
	bigDir := filepath.Join(work, "big-release")
	if o.BigMiB > 0 && len(bigTools) > 0 {
		logf(log, "pushing one image with a %d MiB layer", o.BigMiB)
		t0 = time.Now()
		big, err = genBigImage(ctx, sc, "vault/big-layer", "9.9.1", int64(o.BigMiB)<<20, o.Seed<<40|0xB16, work)
		if err != nil {
			return nil, fmt.Errorf("generating the large layer: %w", err)
		}
		if _, err := writeRelease(bigDir, "9.9.1", src.Host, []*benchImage{big}); err != nil {
			return nil, err
		}
		res.BigBytes = big.Blobs[1].Size
		logf(log, "large image %s in %.1f s", big.Digest, time.Since(t0).Seconds())
	}

	// The ECR-like mode's release, pulled through a counting proxy in front of the source.
	var eb *ecrBench
	ecrTools := splitList(o.ECRTools)
	if o.ECR && len(ecrTools) > 0 {
		tb, moto, proxy, err := startECRBench(work, src)
		if err != nil {
			res.note("ECR-like mode skipped: %v", err)
		} else {
			defer tb.close()
			ecrSpec := spec
			ecrSpec.Images, ecrSpec.MinLayer, ecrSpec.MaxLayer = o.ECRImages, mb(o.ECRMinLayerMB), mb(o.ECRMaxLayerMB)
			ecrSpec.BaseSizes = [2]int64{mb(o.ECRMaxLayerMB), mb((o.ECRMinLayerMB + o.ECRMaxLayerMB) / 2)}
			ecrSpec.Version, ecrSpec.RepoPrefix, ecrSpec.Seed = "9.9.2", "vault-ecr/", o.Seed^0xEC2
			logf(log, "pushing the ECR-like release (%d images)", o.ECRImages)
			eimgs, err := genRelease(ctx, sc, ecrSpec, work)
			if err != nil {
				return nil, fmt.Errorf("generating the ECR-like release: %w", err)
			}
			esrc := &registry{Host: proxy.Host, User: src.User, Password: src.Password}
			eb = &ecrBench{env: env, moto: moto, proxy: proxy, src: esrc, imgs: eimgs,
				relDir: filepath.Join(work, "ecr-release")}
			if _, err := writeRelease(eb.relDir, ecrSpec.Version, esrc.Host, eimgs); err != nil {
				return nil, err
			}
			res.ECRRelease = statsOf(eimgs)
			logf(log, "ECR-like release: %d images, %d distinct blobs, %d distinct bytes", res.ECRRelease.Images,
				res.ECRRelease.Blobs, res.ECRRelease.UniqueBytes)
			for _, t := range ecrTools {
				if v, ok := avail[t]; ok {
					res.Versions[t] = v
				}
			}
		}
	}

	if _, ok := avail[toolTmsync]; ok {
		var subs []subject
		for _, img := range append(append([]*benchImage{}, imgs...), big) {
			if img != nil {
				subs = append(subs, subject{Repository: src.Host + "/" + img.Repo, Digest: img.Digest})
			}
		}
		if eb != nil {
			for _, img := range eb.imgs {
				subs = append(subs, subject{Repository: eb.src.Host + "/" + img.Repo, Digest: img.Digest})
			}
		}
		env.attest, err = newAttestations(filepath.Join(work, "attest"), token, subs)
		if err != nil {
			return nil, fmt.Errorf("attestations: %w", err)
		}
		defer env.attest.Close()
	}

	// The release, every tool in turn, rotating the order from round to round.
	for r := 0; r < o.Runs; r++ {
		for i := range tools {
			tool := tools[(i+r)%len(tools)]
			if _, ok := avail[tool]; !ok {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			tr := res.tool(tool)
			dst, err := startRegistry(ctx, work, "target-"+tool, "", "")
			if err != nil {
				return nil, err
			}
			j := job{src: src, dst: dst, imgs: imgs, releaseDir: relDir, env: env,
				workDir: filepath.Join(work, fmt.Sprintf("run-%s-%d", tool, r))}
			cold, err := runTool(ctx, tool, j)
			if err != nil {
				tr.fail("cold run %d: %v", r+1, err)
			} else {
				tr.Cold = append(tr.Cold, cold)
				if verr := verify(ctx, dst.client(), imgs); verr != nil {
					tr.fail("cold run %d: %v", r+1, verr)
				} else {
					tr.Verified++
				}
				tr.Stored = dst.storedBytes()
			}
			if err == nil && !inProcess(tool) {
				j.workDir += "-noop"
				noop, err := runTool(ctx, tool, j)
				if err != nil {
					tr.fail("no-op run %d: %v", r+1, err)
				} else {
					tr.Noop = append(tr.Noop, noop)
				}
			}
			dst.stop()
			logf(log, "round %d/%d %-8s cold %s no-op %s", r+1, o.Runs, tool, last(tr.Cold), last(tr.Noop))
		}
	}

	// The large layer.
	if big != nil {
		for r := 0; r < o.Runs; r++ {
			for i := range bigTools {
				tool := bigTools[(i+r)%len(bigTools)]
				if _, ok := avail[tool]; !ok {
					continue
				}
				tr := res.bigTool(tool)
				dst, err := startRegistry(ctx, work, "big-"+tool, "", "")
				if err != nil {
					return nil, err
				}
				j := job{src: src, dst: dst, imgs: []*benchImage{big}, releaseDir: bigDir, env: env,
					workDir: filepath.Join(work, fmt.Sprintf("big-%s-%d", tool, r))}
				m, err := runTool(ctx, tool, j)
				if err != nil {
					tr.fail("large layer run %d: %v", r+1, err)
				} else if verr := verify(ctx, dst.client(), j.imgs); verr != nil {
					tr.fail("large layer run %d: %v", r+1, verr)
				} else {
					tr.Verified++
					tr.Cold = append(tr.Cold, m)
				}
				dst.stop()
				logf(log, "large layer %d/%d %-8s %s", r+1, o.Runs, tool, last(tr.Cold))
			}
		}
	}

	if eb != nil {
		if err := runECRSection(ctx, eb, ecrTools, avail, o.ECRRuns, res, log); err != nil {
			return nil, err
		}
	}

	res.finish(time.Since(started))
	if err := res.write(o.Out); err != nil {
		return res, err
	}
	logf(log, "wrote %s and %s", filepath.Join(o.Out, "benchmarks.md"), filepath.Join(o.Out, "benchmarks.json"))
	return res, nil
}

func last(ms []measure) string {
	if len(ms) == 0 {
		return "-"
	}
	m := ms[len(ms)-1]
	return fmt.Sprintf("%.2fs/%dMB", m.Wall.Seconds(), m.MaxRSSKB/1024)
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "bench-" + hex.EncodeToString(b)
}

func toolVersion(bin string) string {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		cancel()
		if err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			for _, l := range lines {
				l = strings.TrimSpace(l)
				if strings.Contains(strings.ToLower(l), "version") || len(lines) == 1 {
					return strings.Join(strings.Fields(l), " ")
				}
			}
			for _, l := range lines { // regsync: "VCSTag:  v0.11.7"
				if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "VCSTag:") {
					return f[1]
				}
			}
			return strings.Join(strings.Fields(lines[0]), " ")
		}
	}
	return "unknown version"
}

// storageKind says where the registries keep their data.
func storageKind(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Type == 0x01021994 { // TMPFS_MAGIC
		return "tmpfs (" + dir + ")"
	}
	return "disk (" + dir + ")"
}
