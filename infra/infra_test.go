package infra_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/internal/testbed"
)

// The ECR actions tmsync calls, from the one list the Go code keeps: what ecrtarget
// calls, and what the engine's pushes through the registry protocol need.
var wantECRActions = func() []string {
	a := slices.Concat(ecrtarget.IAMActions(), ecrtarget.PushActions())
	slices.Sort(a)
	return slices.Compact(a)
}()

// need skips the test with msg, or fails it when integration is required (CI).
func need(t *testing.T, msg string) {
	t.Helper()
	if testbed.Required() {
		t.Fatalf("integration required (%s=require): %s", testbed.EnvIntegration, msg)
	}
	t.Skip(msg)
}

func integrationOn(t *testing.T) {
	t.Helper()
	if os.Getenv(testbed.EnvIntegration) == "skip" {
		t.Skipf("integration tests are off (%s=skip)", testbed.EnvIntegration)
	}
}

func terraformBin(t *testing.T) string {
	t.Helper()
	integrationOn(t)
	if p, err := exec.LookPath("terraform"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/bin/terraform"); err == nil {
		return "/usr/local/bin/terraform"
	}
	need(t, "terraform is not installed (https://developer.hashicorp.com/terraform/install)")
	return ""
}

// providerMirror finds a filesystem mirror that holds hashicorp/aws for this platform:
// $TMSYNC_TF_PROVIDER_MIRROR, or one of the usual places.
func providerMirror(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	candidates := []string{
		os.Getenv("TMSYNC_TF_PROVIDER_MIRROR"),
		"/opt/tf-plugins",
		filepath.Join(home, ".terraform.d", "plugins"),
		filepath.Join(home, ".local", "share", "terraform", "plugins"),
		"/usr/local/share/terraform/plugins",
		"/usr/share/terraform/plugins",
	}
	platform := runtime.GOOS + "_" + runtime.GOARCH
	for _, c := range candidates {
		if c == "" {
			continue
		}
		// Unpacked layout: HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/; packed: .../terraform-provider-aws_V_OS_ARCH.zip
		if m, _ := filepath.Glob(filepath.Join(c, "registry.terraform.io", "hashicorp", "aws", "5.*", platform)); len(m) > 0 {
			return c
		}
		if m, _ := filepath.Glob(filepath.Join(c, "registry.terraform.io", "hashicorp", "aws", "terraform-provider-aws_5.*_"+platform+".zip")); len(m) > 0 {
			return c
		}
	}
	need(t, "no filesystem mirror of the hashicorp/aws 5.x provider found (set TMSYNC_TF_PROVIDER_MIRROR); the Terraform registry is not used by the tests")
	return ""
}

// tf runs terraform with a test-only CLI configuration that installs hashicorp/aws from
// the mirror and nothing from the network.
type tf struct {
	bin string
	env []string
}

func newTF(t *testing.T) *tf {
	t.Helper()
	bin := terraformBin(t)
	mirror := providerMirror(t)
	cfg := filepath.Join(t.TempDir(), "terraform.tfrc")
	text := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
`, mirror)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"TF_CLI_CONFIG_FILE="+cfg,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"TF_PLUGIN_CACHE_DIR=",
		// Keep real credentials of the developer's shell away from the tests.
		"AWS_PROFILE=", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	return &tf{bin: bin, env: env}
}

// run runs terraform in dir and returns its combined output and exit code.
func (f *tf) run(t *testing.T, dir string, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin, args...)
	cmd.Dir = dir
	cmd.Env = f.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("terraform %s (in %s): %s", strings.Join(args, " "), filepath.Base(dir), time.Since(start).Round(100*time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("terraform %s: timed out after %s\n%s", strings.Join(args, " "), timeout, out.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), 0
}

func (f *tf) must(t *testing.T, dir string, timeout time.Duration, args ...string) string {
	t.Helper()
	out, code := f.run(t, dir, timeout, args...)
	if code != 0 {
		t.Fatalf("terraform %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// copyInfra copies the Terraform sources (no .terraform, state or lock files) to a temp
// dir, so that init never writes into the repository.
func copyInfra(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "infra")
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, p), 0o755)
		}
		if !strings.HasSuffix(name, ".tf") && !strings.HasSuffix(name, ".example") && name != ".tflint.hcl" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The root inlines the buildspecs and uploads the stage scripts: ../build, next to it.
	build := filepath.Join(filepath.Dir(dst), "build")
	if err := os.MkdirAll(build, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join("..", "build"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("..", "build", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(build, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// terraformDirs lists the root, every module and the moto test root (relative paths).
func terraformDirs(t *testing.T) []string {
	t.Helper()
	dirs := []string{".", "test/moto"}
	mods, err := filepath.Glob("modules/*/main.tf")
	if err != nil || len(mods) == 0 {
		t.Fatalf("no modules found: %v", err)
	}
	for _, m := range mods {
		dirs = append(dirs, filepath.Dir(m))
	}
	return dirs
}

func TestTerraformFmt(t *testing.T) {
	t.Parallel()
	bin := terraformBin(t)
	f := &tf{bin: bin, env: append(os.Environ(), "CHECKPOINT_DISABLE=1")}
	if out, code := f.run(t, ".", time.Minute, "fmt", "-check", "-recursive", "-diff"); code != 0 {
		t.Fatalf("terraform fmt -check: files need formatting (run terraform fmt -recursive infra)\n%s", out)
	}
}

// TestTerraformValidate runs init (providers from the mirror, no backend) and validate on
// the root, the moto root and each module on its own.
func TestTerraformValidate(t *testing.T) {
	t.Parallel()
	f := newTF(t)
	for _, dir := range terraformDirs(t) {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			t.Parallel()
			work := filepath.Join(copyInfra(t), dir)
			f.must(t, work, 3*time.Minute, "init", "-backend=false", "-input=false", "-no-color")
			out := f.must(t, work, 3*time.Minute, "validate", "-no-color")
			if strings.Contains(out, "Warning:") {
				t.Errorf("terraform validate warns:\n%s", out)
			}
		})
	}
}

// TestTFLint runs tflint with its bundled terraform ruleset (the AWS ruleset is a plugin
// downloaded from GitHub, which these machines cannot reach). scripts/install-tflint.sh
// installs it; without it the test skips.
func TestTFLint(t *testing.T) {
	t.Parallel()
	integrationOn(t)
	bin, err := exec.LookPath("tflint")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "tflint")
		if _, err := os.Stat(p); err != nil {
			need(t, "tflint is not installed (make deps-tflint builds it with go install)")
		}
		bin = p
	}
	cfg, err := filepath.Abs(".tflint.hcl")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--recursive", "--config="+cfg, "--format=compact")
	cmd.Dir = copyInfra(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tflint: %v\n%s", err, out)
	}
}

// TestECRActions checks the IAM module grants exactly the ECR actions tmsync calls.
func TestECRActions(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("modules/iam/ecr_actions.tf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`"(ecr:[A-Za-z]+)"`).FindAllStringSubmatch(string(b), -1) {
		got = append(got, m[1])
	}
	a, w := slices.Clone(got), slices.Clone(wantECRActions)
	slices.Sort(a)
	slices.Sort(w)
	if !slices.Equal(a, w) {
		t.Errorf("ecr_actions.tf lists\n%v\nwant\n%v", a, w)
	}
}

// TestMotoApply applies test/moto (the modules with moto-friendly inputs) against a
// moto_server, then checks a second plan shows no change.
func TestMotoApply(t *testing.T) {
	t.Parallel()
	f := newTF(t)
	m := testbed.StartMoto(t)
	work := filepath.Join(copyInfra(t), "test", "moto")
	// A stand-in for the tmsync binary: the tools module uploads it with the stage scripts.
	bin := filepath.Join(t.TempDir(), "tmsync_linux_amd64")
	if err := os.WriteFile(bin, []byte("not really tmsync\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	binSum := sha256Hex([]byte("not really tmsync\n"))
	endpoint := "-var=endpoint=" + m.URL
	binVar := "-var=tmsync_binary_file=" + bin
	f.must(t, work, 3*time.Minute, "init", "-backend=false", "-input=false", "-no-color")
	f.must(t, work, 6*time.Minute, "apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=20", endpoint, binVar)

	out, code := f.run(t, work, 4*time.Minute, "plan", "-detailed-exitcode", "-input=false", "-no-color", "-parallelism=20", endpoint, binVar)
	if code != 0 {
		t.Fatalf("plan after apply: exit %d (2 = changes: the modules do not converge against moto)\n%s", code, out)
	}

	var outputs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(f.must(t, work, time.Minute, "output", "-json")), &outputs); err != nil {
		t.Fatal(err)
	}
	var sync, verify []string
	if err := json.Unmarshal(outputs["ecr_actions"].Value, &sync); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(outputs["verify_ecr_actions"].Value, &verify); err != nil {
		t.Fatal(err)
	}
	if len(sync) != len(wantECRActions) {
		t.Errorf("sync role ECR actions: %v", sync)
	}
	for _, a := range verify {
		if !regexp.MustCompile(`^ecr:(Get|Describe|List|BatchGet|BatchCheck)`).MatchString(a) {
			t.Errorf("verify role gets a write action %s", a)
		}
	}
	var bucket string
	_ = json.Unmarshal(outputs["artifacts_bucket"].Value, &bucket)
	if bucket != "tm-artifacts-"+testbed.MotoAccount+"-sync-pipeline-s3" {
		t.Errorf("artifacts bucket %q", bucket)
	}
	var sums, uri, policy string
	_ = json.Unmarshal(outputs["tools_sha256sums"].Value, &sums)
	_ = json.Unmarshal(outputs["tmsync_s3_uri"].Value, &uri)
	_ = json.Unmarshal(outputs["source_policy"].Value, &policy)
	if !strings.HasPrefix(sums, binSum+"  bin/tmsync\n") || !strings.Contains(sums, "  build/gate.sh") || !strings.Contains(sums, "  build/find-sync-log.sh") {
		t.Errorf("TOOLS_SHA256SUMS:\n%s", sums)
	}
	if uri != "s3://tm-tools-"+testbed.MotoAccount+"-moto/tools/tmsync-"+binSum[:16]+"/tmsync" {
		t.Errorf("tmsync S3 URI %q", uri)
	}
	if !strings.Contains(policy, "arn:aws:s3:::tm-source-"+testbed.MotoAccount+"-sync-pipeline-s3/*") || strings.Contains(policy, "codecommit:") {
		t.Errorf("pipeline policy with the s3 source:\n%s", policy)
	}

	// The real root, planned (not applied) against the same moto with an override file for
	// the provider, in its sharded form: the whole graph evaluates with real values.
	root := filepath.Dir(filepath.Dir(work))
	override := fmt.Sprintf(`provider "aws" {
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    sts = %q
    iam = %q
  }
}
`, m.URL, m.URL)
	if err := os.WriteFile(filepath.Join(root, "moto_override.tf"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	f.must(t, root, 3*time.Minute, "init", "-backend=false", "-input=false", "-no-color")
	// Plans are compared with runs of white space made one space (terraform aligns the "=").
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	// The vendor attestor key's fingerprints, as an operator may paste them from gpg or a
	// web page (spaces, a tab, a no-break space, lower case, a 0x prefix), two as during a
	// key rotation; the builds get them normalised (all spellings: TestFingerprintSpellings).
	const fprA, fprB = "0x0123 4567 89ab cdef 0123\t 4567 89ab cdef 0123\u00a04567", "89ABCDEF0123456789ABCDEF0123456789ABCDEF"
	const wantPin = testFingerprints
	pinVar := fmt.Sprintf(`-var=src_attestor_fingerprints=[%q, %q]`, fprA, fprB)
	planRaw := func(vars ...string) (string, int) {
		out, code := f.run(t, root, 4*time.Minute, append([]string{"plan", "-input=false", "-no-color", "-refresh=false"}, vars...)...)
		return norm(out), code
	}
	plan := func(vars ...string) (string, int) { return planRaw(append([]string{pinVar}, vars...)...) }
	out, code = plan("-var=sync_sharded=true", binVar)
	if code != 0 {
		t.Fatalf("plan of the real root (s3 source, sharded): exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"module.codebuild_sync.aws_codebuild_project.this will be created",
		"module.pipeline.aws_codepipeline.this will be created",
		`"tm-artifacts-` + testbed.MotoAccount + `-sync-pipeline-s3"`,
		"buildspec_build_sharded.yaml: the sharded buildspec's text is inlined", // see below
		"build_batch_config",
		`"arn:aws:ecr:eu-central-1:` + testbed.MotoAccount + `:repository/3rdparty/tm/*"`,
		// s3 source (the default): the bucket, its EventBridge notifications, the rule.
		`module.source_bucket[0].aws_s3_bucket.this will be created`,
		`"tm-source-` + testbed.MotoAccount + `-sync-pipeline-s3"`,
		`module.source_bucket[0].aws_s3_bucket_notification.this[0] will be created`,
		`provider         = "S3"`,
		`"S3ObjectKey" = "release.zip"`,
		`"Object Created"`,
		// The binary and scripts uploaded, and pinned in the builds' environment.
		`module.tools[0].aws_s3_object.tmsync[0] will be created`,
		`"tools/tmsync-` + binSum[:16] + `/tmsync"`,
		`name  = "TOOLS_SHA256SUMS"`,
		binSum + "  bin/tmsync",
		`name  = "TMSYNC_INSTALL"`,
		// The attestor pin reaches both projects (the sharded sync and verify).
		`name = "TMSYNC_SRC_ATTESTOR_FINGERPRINT" + type = "PLAINTEXT" + value = "` + wantPin + `"`,
	} {
		if want == "buildspec_build_sharded.yaml: the sharded buildspec's text is inlined" {
			want = "ROLE: shard" // a line of build/buildspec_build_sharded.yaml, not its path
		}
		if !strings.Contains(out, norm(want)) {
			t.Errorf("plan of the real root: %q not found", want)
		}
	}
	if n := strings.Count(out, norm(`name = "TMSYNC_SRC_ATTESTOR_FINGERPRINT" + type = "PLAINTEXT" + value = "`+wantPin+`"`)); n != 2 {
		t.Errorf("plan of the real root: TMSYNC_SRC_ATTESTOR_FINGERPRINT in %d CodeBuild projects, want 2 (sync and verify)", n)
	}
	for _, bad := range []string{"aws_codecommit_repository", "aws_codestarconnections_connection", `name = "GOPROXY"`,
		// BLOB_MOUNTING is left alone unless asked for.
		"ecr:PutAccountSetting", "TMSYNC_ENABLE_BLOB_MOUNTING",
		// No signing unless asked (issue 19).
		"module.signing_key", `name = "TMSYNC_SIGN_KMS_KEY"`, "kms:Sign", "evidence-signing"} {
		if strings.Contains(out, norm(bad)) {
			t.Errorf("plan of the real root (s3, artifact): %q should not be there", bad)
		}
	}
	// The S3 cache only when building from source.
	s3Cache := regexp.MustCompile(`cache \{ [^}]*type = "S3"`)
	if s3Cache.MatchString(out) {
		t.Error("plan of the real root (artifact): a CodeBuild S3 cache")
	}
	if t.Failed() {
		t.Logf("plan:\n%s", out)
	}

	// The other sources, building from source, and a restricted egress: plan only (moto
	// cannot apply CodeCommit, CodeStar connections, CodeBuild or CodePipeline).
	connArn := "arn:aws:codeconnections:eu-central-1:" + testbed.MotoAccount + ":connection/0b1c2d3e"
	variants := []struct {
		name  string
		vars  []string
		want  []string
		avoid []string
	}{
		{"codecommit", []string{"-var=source_provider=codecommit", binVar},
			[]string{"module.codecommit[0].aws_codecommit_repository.this will be created", `provider         = "CodeCommit"`, `"aws.codecommit"`, "codecommit:GetBranch", "codecommit:UploadArchive"},
			[]string{"module.source_bucket", "aws_codestarconnections_connection"}},
		{"codestar-connections, new connection", []string{"-var=source_provider=codestar-connections", "-var=codestar_repository_id=bank/tm-releases", "-var=codestar_provider_type=GitLab", binVar},
			[]string{"aws_codestarconnections_connection.source[0] will be created", `provider_type = "GitLab"`, `provider = "CodeStarSourceConnection"`},
			[]string{"module.source_bucket", "aws_codecommit_repository", "aws_cloudwatch_event_rule"}},
		{"codestar-connections, given connection", []string{"-var=source_provider=codestar-connections", "-var=codestar_repository_id=bank/tm-releases", "-var=codestar_connection_arn=" + connArn, binVar},
			[]string{`provider = "CodeStarSourceConnection"`, `"FullRepositoryId" = "bank/tm-releases"`, `"ConnectionArn" = "` + connArn + `"`, `"DetectChanges" = "true"`, "codestar-connections:UseConnection", "codeconnections:UseConnection"},
			[]string{"module.source_bucket", "aws_codecommit_repository", "aws_cloudwatch_event_rule", "aws_codestarconnections_connection"}},
		{"source build", []string{"-var=tmsync_install=source", `-var=source_build_env={GOPROXY="https://goproxy.bank.example",GOTOOLCHAIN="local"}`},
			[]string{`value = "https://goproxy.bank.example"`, `value = "-mod=readonly -buildvcs=false"`},
			[]string{"module.tools", `name = "TOOLS_SHA256SUMS"`}},
		// The bank's evidence signing key (issue 19): created (asymmetric P-256, no rotation),
		// or an existing one, whose ARN the sync role may sign with and the builds get.
		{"signing key created", []string{"-var=create_signing_key=true", binVar},
			[]string{"module.signing_key[0].aws_kms_key.this will be created", `customer_master_key_spec = "ECC_NIST_P256"`, `key_usage = "SIGN_VERIFY"`,
				// (the builds' environment is known only after apply: the key's ARN is in it)
				`enable_key_rotation = false`, `module.iam.aws_iam_role_policy.codebuild_signing["sync"] will be created`,
				`module.iam.aws_iam_role_policy.codebuild_signing["verify"] will be created`},
			nil},
		{"existing signing key", []string{"-var=signing_kms_key_arn=arn:aws:kms:eu-central-1:" + testbed.MotoAccount + ":alias/bank-signing", binVar},
			[]string{`+ "kms:Sign", + "kms:GetPublicKey", ]`, `Resource = "arn:aws:kms:eu-central-1:` + testbed.MotoAccount + `:alias/bank-signing"`,
				`name = "TMSYNC_SIGN_KMS_KEY" + type = "PLAINTEXT" + value = "arn:aws:kms:eu-central-1:` + testbed.MotoAccount + `:alias/bank-signing"`,
				`module.iam.aws_iam_role_policy.codebuild_signing["verify"] will be created`},
			[]string{"module.signing_key"}},
		// ECR's BLOB_MOUNTING: the sync role may turn it on and the sync project asks tmsync to.
		{"blob mounting allowed", []string{binVar, "-var=allow_enable_blob_mounting=true"},
			[]string{`"EcrBlobMounting"`, `"ecr:PutAccountSetting"`, `name = "TMSYNC_ENABLE_BLOB_MOUNTING" + type = "PLAINTEXT" + value = "true"`},
			nil},
		{"egress allow-list and proxy", []string{binVar, `-var=https_egress_cidrs=["203.0.113.0/24"]`, "-var=https_proxy=http://proxy.bank.example:3128", `-var=https_proxy_cidrs=["10.9.0.10/32"]`, "-var=nat_gateway=false"},
			[]string{`"203.0.113.0/24"`, "module.network.aws_security_group_rule.codebuild_https_vpc[0] will be created", "module.network.aws_security_group_rule.codebuild_https_s3[0] will be created", "from_port                = 3128", `value = "http://proxy.bank.example:3128"`},
			[]string{"aws_nat_gateway", `"0.0.0.0/0"`}},
	}
	for _, v := range variants {
		out, code := plan(v.vars...)
		if code != 0 {
			t.Errorf("%s: plan exit %d\n%s", v.name, code, out)
			continue
		}
		if got, want := len(s3Cache.FindAllString(out, -1)), map[bool]int{true: 2, false: 0}[v.name == "source build"]; got != want {
			t.Errorf("%s: %d CodeBuild S3 caches, want %d", v.name, got, want)
		}
		for _, w := range v.want {
			if !strings.Contains(out, norm(w)) {
				t.Errorf("%s: plan lacks %q", v.name, w)
			}
		}
		if v.name == "blob mounting allowed" && (strings.Count(out, `"ecr:PutAccountSetting"`) != 1 || strings.Count(out, "TMSYNC_ENABLE_BLOB_MOUNTING") != 1) {
			t.Errorf("%s: ecr:PutAccountSetting %d times, TMSYNC_ENABLE_BLOB_MOUNTING %d times, want once each (sync only)",
				v.name, strings.Count(out, `"ecr:PutAccountSetting"`), strings.Count(out, "TMSYNC_ENABLE_BLOB_MOUNTING"))
		}
		// kms:Sign for the sync role only; the verify role reads the public key.
		if v.name == "existing signing key" && strings.Count(out, `"kms:Sign"`) != 1 {
			t.Errorf("%s: kms:Sign %d times in the plan, want once (the sync role)", v.name, strings.Count(out, `"kms:Sign"`))
		}
		for _, a := range v.avoid {
			if strings.Contains(out, norm(a)) {
				t.Errorf("%s: plan has %q", v.name, a)
			}
		}
	}

	// Bad install inputs stop the plan with the reason, before anything is created.
	for _, c := range []struct {
		vars []string
		want string
	}{
		{nil, "Set exactly one of tmsync_binary_file"},
		{[]string{binVar, "-var=tmsync_sha256=" + strings.Repeat("0", 64)}, "does not match tmsync_sha256"},
		{[]string{"-var=tmsync_s3_uri=s3://bank-tools/tmsync/v1/tmsync_linux_amd64"}, "tmsync_s3_uri needs tmsync_sha256"},
		{[]string{binVar, "-var=create_signing_key=true", "-var=signing_kms_key_arn=arn:aws:kms:eu-central-1:" + testbed.MotoAccount + ":alias/x"}, "Set create_signing_key or signing_kms_key_arn, not both"},
		{[]string{binVar, "-var=signing_kms_key_arn=alias/bank-signing"}, "signing_kms_key_arn must be a KMS key ARN"},
		// The attestor pin is required, and must be fingerprints (the last -var wins).
		{[]string{binVar, "-var=src_attestor_fingerprints=[]"}, "src_attestor_fingerprints must name at least one fingerprint"},
		{[]string{binVar, `-var=src_attestor_fingerprints=["89ABCDEF01234567"]`}, "each must be a key fingerprint of 40 hex digits"},
		{[]string{binVar, `-var=src_attestor_fingerprints=["` + strings.Repeat("G", 40) + `"]`}, "each must be a key fingerprint of 40 hex digits"},
		{[]string{binVar, `-var=src_attestor_fingerprints=["` + fprB + `", "` + fprB[:39] + `"]`}, "each must be a key fingerprint of 40 hex digits"},
	} {
		out, code := plan(c.vars...)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("plan %v: exit %d, want failure with %q\n%s", c.vars, code, c.want, out)
		}
	}
	if out, code := planRaw(binVar); code == 0 || !strings.Contains(out, "src_attestor_fingerprints") {
		t.Errorf("plan without src_attestor_fingerprints: exit %d, want it refused as a required variable\n%s", code, out)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
