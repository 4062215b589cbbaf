package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// Tool names.
const (
	toolTmsync  = "tmsync"
	toolSkopeo  = "skopeo"
	toolCrane   = "crane"
	toolRegsync = "regsync"
	toolRaw     = "raw"
	// toolTmsyncAlt is another tmsync binary (-tmsync-alt), e.g. with a candidate fix, timed
	// beside bin/tmsync; the targets are judged on toolTmsync only.
	toolTmsyncAlt = "tmsync-alt"
)

// measure is one timed run of a tool.
type measure struct {
	Wall     time.Duration `json:"wall_ns"`
	MaxRSSKB int64         `json:"max_rss_kb"` // largest of the tool's processes
	// CPU time (user + system) of the tool (its processes; raw: the bench process while
	// it copies), of the source registry and of the target registry during the run: on
	// a machine whose CPUs are all busy, wall time follows their sum.
	ToolCPU   time.Duration `json:"tool_cpu_ns,omitempty"`
	SourceCPU time.Duration `json:"source_cpu_ns,omitempty"`
	TargetCPU time.Duration `json:"target_cpu_ns,omitempty"`
	Procs     int           `json:"processes"`
	Requests  int           `json:"attestation_requests,omitempty"`
	Report    any           `json:"report_summary,omitempty"`
}

// job is what a tool is asked to copy.
type job struct {
	src, dst   *registry
	imgs       []*benchImage
	releaseDir string
	workDir    string // per-run folder for config files and logs
	env        *benchEnv
	ecr        *ecrJob // set when dst is the ECR stand-in
}

// authsJSON is a Docker config / containers auth file with basic auth for every registry
// of regs that has a user.
func authsJSON(regs ...*registry) string {
	var parts []string
	for _, r := range regs {
		if r != nil && r.User != "" {
			a := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))
			parts = append(parts, fmt.Sprintf("%q:{\"auth\":%q}", r.Host, a))
		}
	}
	return `{"auths":{` + strings.Join(parts, ",") + `}}`
}

type procOut struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (p *procOut) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.b.Len() < 1<<20 {
		p.b.Write(b)
	}
	return len(b), nil
}

// runProcs runs the commands with at most parallel at a time and returns the wall time
// from the first start to the last exit and the largest peak RSS of any of them.
func runProcs(ctx context.Context, cmds []*exec.Cmd, parallel int) (measure, error) {
	var mu sync.Mutex
	var childWall time.Duration
	m := measure{Procs: len(cmds)}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	start := time.Now()
	for _, c := range cmds {
		g.Go(func() error {
			out := &procOut{}
			c.Stdout, c.Stderr = out, out
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			usage, err := wrapped(c)
			if err != nil {
				return err
			}
			err = c.Run()
			if wall, rss, cpu, ok := usage(); ok {
				mu.Lock()
				m.MaxRSSKB = max(m.MaxRSSKB, rss)
				m.ToolCPU += cpu
				childWall = max(childWall, wall)
				mu.Unlock()
			}
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(c.Args, " "), err, tail(out.b.String(), 3000))
			}
			return nil
		})
	}
	err := g.Wait()
	m.Wall = time.Since(start)
	if len(cmds) == 1 && childWall > 0 {
		m.Wall = childWall // the command alone, without the wrapper's start
	}
	return m, err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C"}
	return append(env, extra...)
}

// runTool copies j.imgs from j.src into j.dst with the named tool, and adds the CPU
// time the registries spent meanwhile.
func runTool(ctx context.Context, tool string, j job) (measure, error) {
	if err := os.MkdirAll(j.workDir, 0o755); err != nil {
		return measure{}, err
	}
	src0, srcOK := j.src.cpu()
	dst0, dstOK := j.dst.cpu()
	m, err := runToolOnly(ctx, tool, j)
	// A figure only when both readings worked (a registry that exited reads as unknown).
	if src1, ok := j.src.cpu(); ok && srcOK {
		m.SourceCPU = src1 - src0
	}
	if dst1, ok := j.dst.cpu(); ok && dstOK {
		m.TargetCPU = dst1 - dst0
	}
	return m, err
}

func runToolOnly(ctx context.Context, tool string, j job) (measure, error) {
	switch tool {
	case toolTmsync:
		return runTmsync(ctx, j, j.env.tmsyncBin)
	case toolTmsyncAlt:
		return runTmsync(ctx, j, j.env.tmsyncAlt)
	case toolSkopeo:
		return runSkopeo(ctx, j)
	case toolCrane:
		return runCrane(ctx, j)
	case toolRegsync:
		return runRegsync(ctx, j)
	case toolRaw:
		start, cpu0 := time.Now(), selfCPU()
		err := rawCopy(ctx, j.src.client(), j.dst.client(), j.imgs, j.env.opts.Jobs)
		return measure{Wall: time.Since(start), ToolCPU: selfCPU() - cpu0}, err
	case toolOwnUpload, toolOwnUploadHEAD:
		start, cpu0 := time.Now(), selfCPU()
		err := ownUploadCopy(ctx, j, tool == toolOwnUploadHEAD)
		return measure{Wall: time.Since(start), ToolCPU: selfCPU() - cpu0}, err
	case toolCImage:
		start, cpu0 := time.Now(), selfCPU()
		err := cimageCopy(ctx, j.src, j.dst, j.imgs, j.env.opts.Jobs, j.workDir)
		return measure{Wall: time.Since(start), ToolCPU: selfCPU() - cpu0}, err
	}
	return measure{}, fmt.Errorf("unknown tool %q", tool)
}

func runTmsync(ctx context.Context, j job, bin string) (measure, error) {
	e := j.env
	report := filepath.Join(j.workDir, "report.json")
	target := []string{"--target", "registry"}
	if j.ecr != nil {
		// tmsync creates the repositories (AES256, no KMS key) within its timed run.
		target = []string{"--target", "ecr", "--trgregion", "us-east-1", "--throttle_ecr_creation_ms", "5"}
	}
	args := append([]string{"sync"}, target...)
	args = append(args,
		"--trg-registry", j.dst.Host,
		"--trgprefix", "/",
		"--srcdomain", j.src.Host,
		"--srcusr", j.src.User,
		"--src_attestions_address", e.attest.URL,
		"--src_attestor", e.attest.KeyFile,
		"--insecure-registry", j.src.Host,
		"--insecure-registry", j.dst.Host,
		"--release-dir", j.releaseDir,
		"--error-log", filepath.Join(j.workDir, "sync-error.log"),
		"--report", report,
		"--concurrency", fmt.Sprint(e.opts.Jobs),
	)
	if extra := os.Getenv("TMSYNC_BENCH_ARGS"); extra != "" { // experiments only: extra flags for tmsync
		args = append(args, strings.Fields(extra)...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = j.workDir
	env := baseEnv("TM_TOKEN=" + j.src.Password)
	if j.ecr != nil {
		env = append(env, ecrEnv(j.ecr.APIURL)...)
	}
	if os.Getenv("TMSYNC_CPUPROFILE") != "" {
		// Profiles of every run into its folder (with -tmsync bench/out/tmsync-prof): CPU,
		// heap and the console lines timed; the execution trace and the blocking
		// profile too with TMSYNC_TRACE=1 (they slow the run); TMSYNC_LOG_LEVEL passed on.
		env = append(env, "TMSYNC_CPUPROFILE="+filepath.Join(j.workDir, "cpu.prof"),
			"TMSYNC_MEMPROFILE="+filepath.Join(j.workDir, "mem.prof"),
			"TMSYNC_TIMELINE="+filepath.Join(j.workDir, "timeline.txt"), "TMSYNC_LOG_LEVEL="+os.Getenv("TMSYNC_LOG_LEVEL"))
		if os.Getenv("TMSYNC_TRACE") != "" {
			env = append(env, "TMSYNC_TRACE="+filepath.Join(j.workDir, "trace.out"),
				"TMSYNC_BLOCKPROFILE="+filepath.Join(j.workDir, "block.prof"))
		}
	}
	cmd.Env = env
	before := e.attest.Requests()
	m, err := runProcs(ctx, []*exec.Cmd{cmd}, 1)
	m.Requests = e.attest.Requests() - before
	if b, rerr := os.ReadFile(report); rerr == nil {
		var r struct {
			Summary any `json:"summary"`
		}
		if json.Unmarshal(b, &r) == nil {
			m.Report = r.Summary
		}
	}
	return m, err
}

// skopeo sync from a YAML source. skopeo 1.9 copies the images of a YAML source by tag (a
// digest there is copied by digest, leaving the target untagged), so it is given the tags,
// which point to the same digests in the source.
func runSkopeo(ctx context.Context, j job) (measure, error) {
	var y strings.Builder
	fmt.Fprintf(&y, "%s:\n  tls-verify: false\n  credentials:\n    username: %q\n    password: %q\n  images:\n",
		j.src.Host, j.src.User, j.src.Password)
	for _, img := range j.imgs {
		fmt.Fprintf(&y, "    %s:\n      - %q\n", img.Repo, img.Tag)
	}
	yml := filepath.Join(j.workDir, "skopeo-sync.yml")
	policy := filepath.Join(j.workDir, "policy.json")
	auth := filepath.Join(j.workDir, "auth.json")
	for p, b := range map[string]string{yml: y.String(), policy: `{"default":[{"type":"insecureAcceptAnything"}]}`, auth: authsJSON(j.dst)} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			return measure{}, err
		}
	}
	// skopeo sync puts SOURCE-REPO's last path element under DESTINATION; every image of
	// the release lives under the same folder, which becomes the destination's.
	parent := ""
	for i, img := range j.imgs {
		p := path.Dir(img.Repo)
		if i > 0 && p != parent {
			return measure{}, fmt.Errorf("skopeo sync: images under several folders (%s, %s)", parent, p)
		}
		parent = p
	}
	dest := j.dst.Host
	if parent != "." {
		dest += "/" + parent
	}
	cmd := exec.CommandContext(ctx, "skopeo", "--policy", policy, "sync",
		"--src", "yaml", "--dest", "docker", "--all", "--preserve-digests",
		"--dest-tls-verify=false", "--dest-authfile", auth,
		yml, dest)
	cmd.Dir = j.workDir
	cmd.Env = baseEnv("REGISTRY_AUTH_FILE="+auth, "XDG_RUNTIME_DIR="+j.workDir)
	return runProcs(ctx, []*exec.Cmd{cmd}, 1)
}

// crane copy, one process per image, Jobs processes at a time (as `xargs -P Jobs`).
func runCrane(ctx context.Context, j job) (measure, error) {
	cfgDir := filepath.Join(j.workDir, "docker")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		return measure{}, err
	}
	cfg := authsJSON(j.src, j.dst)
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
		return measure{}, err
	}
	var cmds []*exec.Cmd
	for _, img := range j.imgs {
		c := exec.CommandContext(ctx, "crane", "copy", "--insecure",
			fmt.Sprintf("%s/%s@%s", j.src.Host, img.Repo, img.Digest),
			fmt.Sprintf("%s/%s:%s", j.dst.Host, img.Repo, img.Tag))
		c.Dir = j.workDir
		c.Env = baseEnv("DOCKER_CONFIG=" + cfgDir)
		cmds = append(cmds, c)
	}
	return runProcs(ctx, cmds, j.env.opts.Jobs)
}

// regsync once with parallel = Jobs; sources pinned by digest, targets tagged.
func runRegsync(ctx context.Context, j job) (measure, error) {
	var y strings.Builder
	fmt.Fprintf(&y, "version: 1\ncreds:\n  - registry: %q\n    tls: disabled\n    user: %q\n    pass: %q\n  - registry: %q\n    tls: disabled\n",
		j.src.Host, j.src.User, j.src.Password, j.dst.Host)
	if j.dst.User != "" {
		fmt.Fprintf(&y, "    user: %q\n    pass: %q\n", j.dst.User, j.dst.Password)
	}
	fmt.Fprintf(&y, "defaults:\n  parallel: %d\nsync:\n", j.env.opts.Jobs)
	for _, img := range j.imgs {
		fmt.Fprintf(&y, "  - source: %q\n    target: %q\n    type: image\n",
			fmt.Sprintf("%s/%s@%s", j.src.Host, img.Repo, img.Digest),
			fmt.Sprintf("%s/%s:%s", j.dst.Host, img.Repo, img.Tag))
	}
	cfg := filepath.Join(j.workDir, "regsync.yml")
	if err := os.WriteFile(cfg, []byte(y.String()), 0o600); err != nil {
		return measure{}, err
	}
	cmd := exec.CommandContext(ctx, "regsync", "once", "-c", cfg, "-v", "warn")
	cmd.Dir = j.workDir
	// No docker config of the user's: regsync would read it.
	cmd.Env = baseEnv("DOCKER_CONFIG=" + j.workDir)
	return runProcs(ctx, []*exec.Cmd{cmd}, 1)
}

// rawCopy is the physical reference: every distinct blob streamed once from the source into
// the target (GET piped into the upload: POST, one PATCH with the whole body, PUT), shared blobs
// mounted into the other repositories that need them, then the manifests put, with
// parallel blobs in flight. No tool logic: no retries, no checks, no existence probes.
func rawCopy(ctx context.Context, src, dst *regClient, imgs []*benchImage, parallel int) error {
	streams, mounts := streamPlan(imgs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	for _, s := range streams {
		g.Go(func() error { return streamBlob(gctx, src, dst, s.repo, s.dgst) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	for _, img := range imgs {
		g.Go(func() error {
			for _, m := range mounts[img.Repo] {
				ok, loc, err := dst.mountBlob(gctx, img.Repo, m.dgst, m.repo)
				if err != nil {
					return err
				}
				if !ok { // the registry opened an upload instead: stream it
					rc, size, err := src.getBlob(gctx, img.Repo, m.dgst)
					if err != nil {
						return err
					}
					err = dst.patchAndFinish(gctx, loc, m.dgst, size, rc)
					rc.Close()
					if err != nil {
						return err
					}
				}
			}
			for _, ch := range img.Children {
				if err := dst.putManifest(gctx, img.Repo, ch.Digest, ch.MediaType, ch.Body); err != nil {
					return err
				}
			}
			return dst.putManifest(gctx, img.Repo, img.Tag, img.Top.MediaType, img.Top.Body)
		})
	}
	return g.Wait()
}

// xfer is a blob of a repository.
type xfer struct{ repo, dgst string }

// streamPlan is raw streaming's plan: each distinct blob streamed once, into the first
// repository that needs it, and mounted from there into the others (repository → blobs).
func streamPlan(imgs []*benchImage) (streams []xfer, mounts map[string][]xfer) {
	owner := map[string]string{} // blob → the repository it is streamed into
	mounts = map[string][]xfer{}
	for _, img := range imgs {
		for _, b := range img.Blobs {
			if r, ok := owner[b.Digest]; ok {
				if r != img.Repo {
					mounts[img.Repo] = append(mounts[img.Repo], xfer{r, b.Digest})
				}
				continue
			}
			owner[b.Digest] = img.Repo
			streams = append(streams, xfer{img.Repo, b.Digest})
		}
	}
	return streams, mounts
}

func streamBlob(ctx context.Context, src, dst *regClient, repo, dgst string) error {
	rc, size, err := src.getBlob(ctx, repo, dgst)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := dst.streamBlobUpload(ctx, repo, dgst, size, rc); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, rc)
	return nil
}

// verify checks that dst holds every image at its tag with the source's digest, and every
// blob the image needs in its repository.
func verify(ctx context.Context, dst *regClient, imgs []*benchImage) error {
	var probs []string
	for _, img := range imgs {
		d, err := dst.manifestDigest(ctx, img.Repo, img.Tag)
		switch {
		case err != nil:
			probs = append(probs, err.Error())
			continue
		case d == "":
			probs = append(probs, fmt.Sprintf("%s:%s missing", img.Repo, img.Tag))
			continue
		case d != img.Digest:
			probs = append(probs, fmt.Sprintf("%s:%s is %s, source %s", img.Repo, img.Tag, d, img.Digest))
			continue
		}
		for _, ch := range img.Children {
			if d, err := dst.manifestDigest(ctx, img.Repo, ch.Digest); err != nil || d != ch.Digest {
				probs = append(probs, fmt.Sprintf("%s@%s (platform manifest) missing", img.Repo, ch.Digest))
			}
		}
		for _, b := range img.Blobs {
			if ok, err := dst.hasBlob(ctx, img.Repo, b.Digest); err != nil || !ok {
				probs = append(probs, fmt.Sprintf("%s: blob %s missing", img.Repo, b.Digest))
			}
		}
	}
	if len(probs) > 0 {
		if len(probs) > 5 {
			probs = append(probs[:5], fmt.Sprintf("and %d more", len(probs)-5))
		}
		return fmt.Errorf("target differs from source: %s", strings.Join(probs, "; "))
	}
	return nil
}
