package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync"
)

// TestMain lets a test run the test binary as tmsync itself (TMSYNC_TEST_MAIN=1), so
// that signals reach a real process with main's signal handling.
func TestMain(m *testing.M) {
	if os.Getenv("TMSYNC_TEST_MAIN") == "1" {
		main()
		return
	}
	code := m.Run()
	// A test that runs tmsync without --error-log writes sync-error.log into the
	// package folder, the working directory: a file left in the source tree.
	if _, err := os.Stat("sync-error.log"); err == nil {
		fmt.Fprintln(os.Stderr, "a test left sync-error.log in cmd/tmsync: give it --error-log in its temporary folder")
		code = max(code, 1)
	}
	os.Exit(code)
}

// The target registry's password: a secret that must not appear in any output.
const trgPassword = "trg-push-pass-91c4e07b3d5a"

const trgPrefix = "3rdparty/tm"

// relBed is the bed of the reliability tests: the vendor's registry behind a fault
// proxy (the release names the proxy, so every source request passes it), and a plain
// registry with basic auth as the target (--target registry), reached with an auth file.
type relBed struct {
	*bed
	src      *faultproxy.Proxy
	trg      *testbed.Registry
	authFile string
}

func newRelBed(t *testing.T, faults faultproxy.Config) *relBed {
	t.Helper()
	b := &bed{t: t, token: testToken, dir: t.TempDir()}
	b.vendor = testbed.StartRegistry(t, testbed.RegistryOptions{Username: "_tm", Password: b.token})
	var err error
	if b.signer, err = attesttest.NewSigner("Vault Release Attestor"); err != nil {
		t.Fatal(err)
	}
	b.att = attesttest.NewServer(b.token)
	t.Cleanup(b.att.Close)
	pub, err := b.signer.ArmoredPublicKey()
	must(t, err)
	b.keyFile = filepath.Join(b.dir, "src_attestor.pgp")
	must(t, os.WriteFile(b.keyFile, pub, 0o644))

	r := &relBed{bed: b}
	r.src = faultproxy.Start(t, b.vendor.Host, faults)
	r.trg = testbed.StartRegistry(t, testbed.RegistryOptions{Username: "push", Password: trgPassword})
	// The auth file is an input, outside the folder of outputs that is scanned for secrets.
	r.authFile = filepath.Join(t.TempDir(), "auth.json")
	auth := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.trg.Host, base64.StdEncoding.EncodeToString([]byte("push:"+trgPassword)))
	must(t, os.WriteFile(r.authFile, []byte(auth), 0o600))
	// The token reaches tmsync through the environment only, never argv.
	t.Setenv("TM_TOKEN", b.token)
	return r
}

// release pushes n images (two 16 KiB layers each) straight to the vendor registry,
// attests them under the proxy's name, and writes a release folder naming the proxy.
func (r *relBed) release(n int, seed int64, extra ...releasetest.Image) (string, []releasetest.Image) {
	r.t.Helper()
	var images []releasetest.Image
	for i := range n {
		images = append(images, releasetest.Image{Repository: fmt.Sprintf("vault/svc-%02d", i), Tag: "5.0.3", Layers: 2, LayerSize: 16 << 10})
	}
	reg := releasetest.Registry{Host: r.vendor.Host, Auth: &authn.Basic{Username: "_tm", Password: r.token}}
	for i := range images {
		must(r.t, releasetest.Push(context.Background(), reg, &images[i], seed+int64(i)*31))
	}
	images = append(images, extra...)
	for _, im := range images {
		occ, err := r.signer.Occurrence(attest.Subject{Repository: r.src.Host + "/" + im.Repository, Digest: digest.Digest(im.Digest)})
		must(r.t, err)
		r.att.Add(occ)
	}
	rel := filepath.Join(r.dir, "release")
	must(r.t, os.MkdirAll(rel, 0o755))
	writeRelease(r.t, rel, "5.0.3", r.src.Host, images, nil)
	return rel, images
}

func (r *relBed) args(rel string, extra ...string) []string {
	a := []string{"tmsync", "sync", "--target", "registry", "--trg-registry", r.trg.Host, "--trgprefix", "/" + trgPrefix + "/",
		"--src_packages_postfix=images.txt", "--src_release=release.json",
		"--srcdomain", r.src.Host, "--src_attestions_address", r.att.URL, "--src_attestor", r.keyFile,
		"--insecure-registry", r.src.Host, "--insecure-registry", r.trg.Host, "--authfile", r.authFile,
		"--release-dir", rel,
		"--error-log", filepath.Join(r.dir, "sync-error.log"), "--report", filepath.Join(r.dir, "report.json"),
	}
	return append(a, extra...)
}

// secrets are the strings no output may hold.
func (r *relBed) secrets() []string {
	return []string{r.token, trgPassword, base64.StdEncoding.EncodeToString([]byte("push:" + trgPassword))}
}

// noSecrets checks the console output and every file under the bed's folder.
func (r *relBed) noSecrets(console string) {
	r.t.Helper()
	for _, s := range r.secrets() {
		if strings.Contains(console, s) {
			r.t.Errorf("the console output holds a secret")
		}
	}
	assertNoSecrets(r.t, r.dir, r.secrets()...)
}

// run runs tmsync in this process.
func (r *relBed) run(args []string) (int, string) {
	r.t.Helper()
	var out bytes.Buffer
	start := time.Now()
	code := run(context.Background(), args, &out, &out)
	r.t.Logf("tmsync %s: exit %d in %s\n%s", args[1], code, time.Since(start).Round(time.Millisecond), out.String())
	r.noSecrets(out.String())
	return code, out.String()
}

// want is what a clean run leaves in the target: repository:tag -> digest.
func want(images []releasetest.Image) map[string]string {
	m := map[string]string{}
	for _, im := range images {
		m[trgPrefix+"/"+im.Repository+":"+im.Tag] = im.Digest
	}
	return m
}

// targetState lists every tag of every repository in the target, each checked to be
// complete: its manifest (and, for an index, every child manifest) served, and every
// blob it names there. It returns repository:tag -> digest.
func (r *relBed) targetState() map[string]string {
	r.t.Helper()
	var cat struct{ Repositories []string }
	r.getJSON("/v2/_catalog?n=1000", &cat)
	state := map[string]string{}
	for _, repo := range cat.Repositories {
		var tl struct{ Tags []string }
		res, body, err := r.do(http.MethodGet, "/v2/"+repo+"/tags/list")
		if res != nil && res.StatusCode == http.StatusNotFound {
			continue // blobs of an interrupted copy, and no tag: the registry knows no tags
		}
		must(r.t, err)
		must(r.t, json.Unmarshal(body, &tl))
		for _, tag := range tl.Tags {
			d, err := r.complete(repo, tag)
			if err != nil {
				r.t.Errorf("%s:%s points to an incomplete image: %v", repo, tag, err)
				continue
			}
			state[repo+":"+tag] = d.String()
		}
	}
	return state
}

func (r *relBed) do(method, path string, accept ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, "http://"+r.trg.Host+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth("push", trgPassword)
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	return res, body, err
}

func (r *relBed) getJSON(path string, v any) {
	r.t.Helper()
	_, body, err := r.do(http.MethodGet, path)
	must(r.t, err)
	must(r.t, json.Unmarshal(body, v))
}

var manifestTypes = []string{
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
}

// complete fetches repo's manifest ref and checks that everything it names is there.
func (r *relBed) complete(repo, ref string) (digest.Digest, error) {
	_, body, err := r.do(http.MethodGet, "/v2/"+repo+"/manifests/"+ref, manifestTypes...)
	if err != nil {
		return "", err
	}
	var m struct {
		Config    *struct{ Digest string }
		Layers    []struct{ Digest string }
		Manifests []struct{ Digest string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", err
	}
	var blobs []string
	if m.Config != nil {
		blobs = append(blobs, m.Config.Digest)
	}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, b := range blobs {
		if _, _, err := r.do(http.MethodHead, "/v2/"+repo+"/blobs/"+b); err != nil {
			return "", fmt.Errorf("blob %s: %w", b, err)
		}
	}
	for _, c := range m.Manifests {
		if got, err := r.complete(repo, c.Digest); err != nil || got.String() != c.Digest {
			return "", fmt.Errorf("child %s: %v", c.Digest, err)
		}
	}
	return digest.FromBytes(body), nil
}

func diffState(got, want map[string]string) []string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, fmt.Sprintf("%s: got %q, want %s", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: %s is not in the release", k, v))
		}
	}
	sort.Strings(d)
	return d
}

func faultSummary(s faultproxy.Stats) string {
	return fmt.Sprintf("%d requests, %d forwarded, errors %v, %d cuts", s.Requests, s.Forwarded, s.Errors, s.Cuts)
}

// TestReliabilityFaultySource: 10% of source requests fail (500, 502, 503, 429 with
// Retry-After) and 2% of blob downloads are cut; every image of a 20-image release still
// arrives with its digest, and the run exits 0.
func TestReliabilityFaultySource(t *testing.T) {
	// Seed 2 injects every kind of fault, cuts included; TMSYNC_FAULT_SEED tries another.
	seed := int64(2)
	if s := os.Getenv("TMSYNC_FAULT_SEED"); s != "" {
		_, _ = fmt.Sscan(s, &seed)
	}
	r := newRelBed(t, faultproxy.Config{Seed: seed, ErrorRate: 0.10, CutRate: 0.02, RetryAfter: time.Second,
		Match: faultproxy.ExceptPing})
	rel, images := r.release(20, 1)
	start := time.Now()
	code, _ := r.run(r.args(rel, "--retries", "4", "--concurrency", "8"))
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d, want 0; error log:\n%s", code, r.errorLog())
	}
	if d := diffState(r.targetState(), want(images)); len(d) > 0 {
		t.Errorf("target differs from the release:\n  %s", strings.Join(d, "\n  "))
	}
	rep := r.report()
	attempts, retried, maxAttempts := 0, 0, 0
	for _, im := range rep.Images {
		attempts += im.Attempts
		if im.Attempts > 1 {
			retried++
		}
		maxAttempts = max(maxAttempts, im.Attempts)
	}
	s := r.src.Stats()
	t.Logf("FIGURES faulty source (seed %d): %d copied in %s; faults %s; %d image copies for %d images (%d images retried, at most %d attempts)",
		seed, rep.Summary.Copied, elapsed.Round(time.Millisecond), faultSummary(s), attempts, len(images), retried, maxAttempts)
	if rep.Summary.Copied != len(images) {
		t.Errorf("summary %+v, want %d copied", rep.Summary, len(images))
	}
	// The seed must inject every kind of fault, or the test proves less than it says.
	if s.Cuts == 0 || s.Errors[500] == 0 || s.Errors[502] == 0 || s.Errors[503] == 0 || s.Errors[429] == 0 {
		t.Errorf("the seed injected too few faults: %s", faultSummary(s))
	}
}

// TestReliabilityPermanentError: one image of the release names a digest the vendor
// registry never had (manifest unknown). It fails once, without a retry or its backoff;
// the others arrive; exit 1.
func TestReliabilityPermanentError(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	ghost := releasetest.Image{Repository: "vault/ghost", Tag: "5.0.3",
		Digest: digest.FromString("a manifest the vendor never pushed").String()}
	rel, images := r.release(3, 100, ghost)
	code, _ := r.run(r.args(rel)) // --retries 3 (the default), backoff 1s
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if d := diffState(r.targetState(), want(images[:3])); len(d) > 0 {
		t.Errorf("target differs from the release without the ghost:\n  %s", strings.Join(d, "\n  "))
	}
	rep := r.report()
	for _, im := range rep.Images {
		if im.Dest != "vault/ghost:5.0.3" {
			if im.Outcome != tmsync.OutcomeCopied {
				t.Errorf("%s: %s, want copied", im.Dest, im.Outcome)
			}
			continue
		}
		t.Logf("FIGURES permanent error: %s failed at %s after %d attempt(s) in %.3fs: %s", im.Dest, im.Step, im.Attempts, im.Seconds, im.Reason)
		if im.Outcome != tmsync.OutcomeFailed || im.Step != "copy" || im.Attempts != 1 || im.Seconds >= 1 {
			t.Errorf("ghost: outcome %s, step %s, %d attempts, %.3fs; want failed at copy once, in less than the 1s backoff",
				im.Outcome, im.Step, im.Attempts, im.Seconds)
		}
		if !strings.Contains(im.Reason, "manifest unknown") {
			t.Errorf("ghost: reason %q does not say manifest unknown", im.Reason)
		}
	}
	lines := strings.Split(strings.TrimSpace(r.errorLog()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "vault/ghost:5.0.3") {
		t.Errorf("error log %q, want one line naming vault/ghost:5.0.3", lines)
	}
}

// TestReliabilitySIGTERMThenRerun runs tmsync as a process, slowed down by latency at
// the source, and sends it SIGTERM once a few images are in. It must exit 143 (the
// shell's status for SIGTERM) having written an error log and a report that say it was
// interrupted (a "not started" line for each image it never started, the signal named
// for those it cut, no "context canceled"), and leave no tag that
// points to an incomplete image. A rerun completes the job: the target then equals what
// a clean run leaves.
func TestReliabilitySIGTERMThenRerun(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{Latency: 120 * time.Millisecond, Match: faultproxy.ExceptPing})
	rel, images := r.release(12, 300)
	args := r.args(rel, "--concurrency", "2")

	start := time.Now()
	code, out := r.runProcess(args, 3)
	t.Logf("FIGURES sigterm: first run exit %d after %s", code, time.Since(start).Round(time.Millisecond))
	if code != 143 {
		t.Errorf("interrupted run: exit %d, want 143 (SIGTERM)", code)
	}
	log := r.errorLog()
	if strings.TrimSpace(log) == "" || !strings.Contains(log, "interrupted") {
		t.Errorf("error log %q, want lines that say the run was interrupted", log)
	}
	if strings.Contains(log+out, "context canceled") {
		t.Errorf("Go's words in the error log or on the console:\n%s\n%s", log, out)
	}
	rep := r.report()
	notStarted, cut := 0, 0
	for _, im := range rep.Images {
		if im.Outcome != tmsync.OutcomeFailed {
			continue
		}
		line := ""
		switch {
		case im.NotStarted():
			notStarted++
			line = "ERROR: " + im.Dest + ": not started: the run was interrupted\n"
		case im.Step == "evidence": // copied, its evidence cut
			line = "ERROR: evidence failed: " + im.Dest + ": interrupted before its evidence was finished (SIGTERM received): a rerun finishes it\n"
		default:
			cut++
			line = "ERROR: copy failed: " + im.Dest + ": interrupted while copying (SIGTERM received): a rerun copies it\n"
		}
		if !strings.Contains(log, line) {
			t.Errorf("error log lacks %q:\n%s", line, log)
		}
	}
	if notStarted == 0 {
		t.Errorf("no image reported not started (12 images, 2 at once, SIGTERM after 3): %+v", rep.Summary)
	}
	if !regexp.MustCompile(`(?m)^ERROR: \d+ images not started: the run was interrupted \[`).MatchString(out) {
		t.Errorf("the console's summary lacks the images not started:\n%s", out)
	}
	t.Logf("FIGURES sigterm: %d images cut mid-copy, %d not started", cut, notStarted)
	if !rep.Interrupted {
		t.Error("the report does not say the run was interrupted")
	}
	if rep.Summary.Copied == 0 || rep.Summary.Copied == len(images) {
		t.Errorf("summary %+v: SIGTERM did not land in the middle of the copy", rep.Summary)
	}
	for _, im := range rep.Images {
		if im.Outcome == tmsync.OutcomeFailed && !strings.Contains(im.Reason, "interrupted") {
			t.Errorf("%s failed for another reason than the interruption: %s", im.Dest, im.Reason)
		}
	}
	if !strings.Contains(out, "interrupted") {
		t.Errorf("the console does not say the run was interrupted:\n%s", out)
	}
	// Whatever is in the target is complete and has the release's digest. It may hold
	// one image more than the report's copied ones: a manifest PUT the registry committed
	// while tmsync abandoned the request. The rerun finds it present.
	partial := r.targetState()
	wanted := want(images)
	for k, v := range partial {
		if wanted[k] != v {
			t.Errorf("after SIGTERM %s is %s, release says %q", k, v, wanted[k])
		}
	}
	t.Logf("FIGURES sigterm: %d of %d images in the target after the interrupted run (report: %d copied)", len(partial), len(images), rep.Summary.Copied)

	// The rerun, at full speed.
	must(t, r.src.SetConfig(faultproxy.Config{}))
	code, _ = r.runProcess(args, 0)
	if code != 0 {
		t.Fatalf("rerun: exit %d, want 0; error log:\n%s", code, r.errorLog())
	}
	if d := diffState(r.targetState(), wanted); len(d) > 0 {
		t.Errorf("after the rerun the target differs from a clean run's:\n  %s", strings.Join(d, "\n  "))
	}
	if s := r.report().Summary; s.Present != len(partial) || s.Copied != len(images)-len(partial) {
		t.Errorf("rerun summary %+v, want %d present and %d copied", s, len(partial), len(images)-len(partial))
	}
	if log := r.errorLog(); log != "" {
		t.Errorf("error log after the rerun: %q", log)
	}
}

// TestReliabilityConsoleGone: the console's reader goes away after a few lines (`tmsync
// sync | head -3`): the run is not killed by SIGPIPE mid-copy; it finishes, writes its
// report and an empty error log, and exits 0.
func TestReliabilityConsoleGone(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{Latency: 50 * time.Millisecond, Match: faultproxy.ExceptPing})
	rel, images := r.release(6, 300)
	args := r.args(rel, "--concurrency", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "TMSYNC_TEST_MAIN=1")
	pr, pw, err := os.Pipe()
	must(t, err)
	cmd.Stdout, cmd.Stderr = pw, pw // both to the pipe that goes away: no other console
	must(t, cmd.Start())
	_ = pw.Close()
	sc := bufio.NewScanner(pr)
	for n := 0; n < 3 && sc.Scan(); n++ {
	}
	_ = pr.Close() // like head: stop reading, the pipe's reader is gone
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("tmsync was killed by %s when its console went away", ws.Signal())
	}
	if code != 0 {
		t.Fatalf("exit %d (%v), want 0; error log:\n%s", code, err, r.errorLog())
	}
	if log := r.errorLog(); log != "" {
		t.Errorf("error log %q, want empty", log)
	}
	if s := r.report().Summary; s.Copied != len(images) {
		t.Errorf("summary %+v, want %d copied", s, len(images))
	}
}

// runProcess runs tmsync as a child process (this test binary, through TestMain). With
// termAfter > 0 it sends SIGTERM once that many images are done. It checks that the
// child's argv holds no secret, and returns the exit status and the console output.
func (r *relBed) runProcess(args []string, termAfter int) (int, string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args[1:]...)
	tmp := tempDirsEnv(r.t)
	cmd.Env = append(append(os.Environ(), "TMSYNC_TEST_MAIN=1"), tmp.env()...)
	defer tmp.noRunLeft(r.t)
	stdout, err := cmd.StdoutPipe()
	must(r.t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(r.t, cmd.Start())

	if argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); err == nil {
		for _, s := range r.secrets() {
			if bytes.Contains(argv, []byte(s)) {
				r.t.Errorf("tmsync's argv holds a secret")
			}
		}
	} else {
		r.t.Logf("cannot read the child's argv: %v", err)
	}

	var out strings.Builder
	var mu sync.Mutex
	sc := bufio.NewScanner(stdout)
	done, signalled, sentAt := 0, false, time.Time{}
	for sc.Scan() {
		line := sc.Text()
		mu.Lock()
		out.WriteString(line + "\n")
		mu.Unlock()
		if strings.Contains(line, "DONE: ") {
			done++
		}
		if termAfter > 0 && !signalled && done >= termAfter {
			must(r.t, cmd.Process.Signal(syscall.SIGTERM))
			signalled, sentAt = true, time.Now()
		}
	}
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("running tmsync: %v", err)
	}
	if termAfter > 0 && !signalled {
		r.t.Errorf("tmsync finished before %d images were done: no SIGTERM was sent", termAfter)
	}
	if signalled {
		// What is in flight is abandoned, not finished: the exit follows the signal closely.
		took := time.Since(sentAt)
		r.t.Logf("FIGURES sigterm: exit %s after the signal", took.Round(time.Millisecond))
		if took > 10*time.Second {
			r.t.Errorf("tmsync took %s to exit after SIGTERM", took)
		}
	}
	console := out.String() + stderr.String()
	r.t.Logf("tmsync (process) %s: exit %d\n%s", args[1], code, console)
	r.noSecrets(console)
	return code, console
}

// throttler is a reverse proxy in front of moto that answers a seeded share of the
// mutating ECR calls with ThrottlingException, as ECR does under its rate limits.
type throttler struct {
	URL  string
	rate float64

	mu        sync.Mutex
	rng       *rand.Rand
	throttled map[string]int // operation -> calls throttled
	passed    map[string]int // operation -> calls that reached moto
}

var mutatingECR = map[string]bool{
	"CreateRepository": true, "TagResource": true, "UntagResource": true, "SetRepositoryPolicy": true,
	"PutLifecyclePolicy": true, "PutImageScanningConfiguration": true, "PutImageTagMutability": true,
	"DeleteRepository": true, "DeleteRepositoryPolicy": true, "DeleteLifecyclePolicy": true,
}

func startThrottler(t *testing.T, motoURL string, rate float64, seed uint64) *throttler {
	t.Helper()
	target, err := url.Parse(motoURL)
	must(t, err)
	th := &throttler{rate: rate, rng: rand.New(rand.NewPCG(seed, seed)), throttled: map[string]int{}, passed: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("X-Amz-Target")
		op := h[strings.LastIndex(h, ".")+1:]
		th.mu.Lock()
		throttle := mutatingECR[op] && th.rng.Float64() < th.rate
		if throttle {
			th.throttled[op]++
		} else if mutatingECR[op] {
			th.passed[op]++
		}
		th.mu.Unlock()
		if throttle {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	th.URL = srv.URL
	return th
}

func (th *throttler) counts() (throttled, passed int) {
	th.mu.Lock()
	defer th.mu.Unlock()
	for _, n := range th.throttled {
		throttled += n
	}
	for _, n := range th.passed {
		passed += n
	}
	return throttled, passed
}

// TestReliabilityECRThrottled: 30% of the mutating ECR calls of a sync are throttled;
// every repository still gets every setting, every image arrives, exit 0.
func TestReliabilityECRThrottled(t *testing.T) {
	b := newBed(t)
	th := startThrottler(t, b.ecr.Moto.URL, 0.30, 20261128)
	t.Setenv("AWS_ENDPOINT_URL", th.URL) // tmsync's AWS calls go through the throttler
	t.Setenv("TM_TOKEN", b.token)
	var images []releasetest.Image
	for i := range 5 {
		images = append(images, releasetest.Image{Repository: fmt.Sprintf("vault/svc-%02d", i), Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10})
	}
	b.push(images, 40, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	tags := filepath.Join(b.dir, "resource_tags.json")
	must(t, os.WriteFile(tags, []byte(`[{"Key":"owner","Value":"platform"},{"Key":"app","Value":"vault"}]`), 0o644))
	accounts := filepath.Join(b.dir, "awsaccounts_read_binaries.txt")
	must(t, os.WriteFile(accounts, []byte("111122223333\n444455556666\n"), 0o644))

	start := time.Now()
	code, _ := b.run(b.args(rel, "--trg_resource_tags_file_path", tags, "--trg_ecr_policy_file_path", accounts,
		"--trg_dst_security_scan_enabled=true"))
	throttled, passed := th.counts()
	t.Logf("FIGURES ecr throttled: exit %d in %s; %d mutating calls throttled %v, %d reached moto %v",
		code, time.Since(start).Round(time.Millisecond), throttled, th.throttled, passed, th.passed)
	if code != 0 {
		t.Fatalf("exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
	if throttled == 0 {
		t.Error("nothing was throttled")
	}
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	for _, im := range images {
		full := "3rdparty/tm/" + im.Repository
		assertRepositorySettings(t, ecrc, full)
		if got := b.targetDigest(full, im.Tag); got != im.Digest {
			t.Errorf("%s:%s is %s, release says %s", full, im.Tag, got, im.Digest)
		}
	}
	assertNoSecrets(t, b.dir, b.token, b.ecr.Password)
}

// TestReliabilityFaultyTarget: the target registry answers 3% of requests (blob
// uploads, manifest puts, tag look-ups) with 500, 502, 503 or 429. containers/image does
// not retry those on uploads; tmsync's whole-image retry must bring every image in with
// the right digest, and never leave a tag on an incomplete image. (At 10%, as the source
// test uses, an image copy of ~12 target requests succeeds only ~28% of the time per
// attempt, and a few images run out of retries: containers/image offers no hook to retry
// single registry requests, so tmsync can only retry whole images.)
func TestReliabilityFaultyTarget(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	trg := faultproxy.Start(t, r.trg.Host, faultproxy.Config{Seed: 7, ErrorRate: 0.03, RetryAfter: time.Second,
		Match: faultproxy.ExceptPing})
	// The auth file must name the proxy, which is the registry tmsync sees.
	auth := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, trg.Host, base64.StdEncoding.EncodeToString([]byte("push:"+trgPassword)))
	must(t, os.WriteFile(r.authFile, []byte(auth), 0o600))
	rel, images := r.release(20, 300)
	args := r.args(rel, "--retries", "4", "--concurrency", "8")
	for i, a := range args {
		if a == r.trg.Host {
			args[i] = trg.Host
		}
	}
	code, _ := r.run(args)
	if code != 0 {
		t.Fatalf("exit %d, want 0; error log:\n%s", code, r.errorLog())
	}
	if d := diffState(r.targetState(), want(images)); len(d) > 0 {
		t.Errorf("target differs from the release:\n  %s", strings.Join(d, "\n  "))
	}
	s := trg.Stats()
	attempts := 0
	for _, im := range r.report().Images {
		attempts += im.Attempts
	}
	t.Logf("FIGURES faulty target: faults %s; %d image copies for %d images", faultSummary(s), attempts, len(images))
	if s.Faults() == 0 {
		t.Error("no fault was injected: the test proves nothing")
	}
}
