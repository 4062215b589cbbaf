package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpLayout: every command's help fits 100 columns and groups flags by category;
// plan and verify show the flags of sync they take (app.TestHelpListsEveryFlag: every
// command shows every flag it takes).
func TestHelpLayout(t *testing.T) {
	for _, cmd := range [][]string{{}, {"sync"}, {"plan"}, {"verify"}, {"copy"}, {"report"}, {"report", "merge"}, {"version"}, {"completion"}} {
		code, out, _ := runCLI(t, append(cmd, "--help")...)
		if code != 0 || out == "" {
			t.Fatalf("%v --help: exit %d", cmd, code)
		}
		for i, l := range strings.Split(out, "\n") {
			if len(l) > 100 {
				t.Errorf("%v --help line %d is %d columns: %q", cmd, i+1, len(l), l)
			}
		}
	}
	_, syncHelp, _ := runCLI(t, "sync", "--help")
	_, planHelp, _ := runCLI(t, "plan", "--help")
	for _, cat := range []string{"Source (vendor registry and attestations)", "Target (ECR or a registry)", "Outputs", "Run"} {
		if !strings.Contains(planHelp, "\n   "+cat+"\n") {
			t.Errorf("plan --help has no category %q", cat)
		}
	}
	_, verifyHelp, _ := runCLI(t, "verify", "--help")
	for _, f := range []string{"--concurrency", "--retries", "--scan-wait", "--fail-on-severity", "--dry-run", "--heartbeat", "--save-attestation-bundle"} {
		for cmd, help := range map[string]string{"sync": syncHelp, "plan": planHelp, "verify": verifyHelp} {
			if !strings.Contains(help, "\n   "+f) {
				t.Errorf("%s --help lacks %s", cmd, f)
			}
		}
	}
	if !strings.Contains(planHelp, "--detailed-exitcode") || !strings.Contains(planHelp, "[$TMSYNC_DETAILED_EXITCODE]") {
		t.Errorf("plan --help lacks --detailed-exitcode and its environment variable")
	}
}

// TestDidYouMean: a mistyped flag or command gets a suggestion, exit 2; a far-off one none.
// A run's suggestion is in its error log too.
func TestDidYouMean(t *testing.T) {
	errorLog := filepath.Join(t.TempDir(), "sync-error.log")
	t.Setenv("TMSYNC_ERROR_LOG", errorLog) // a bad flag writes it
	for _, c := range []struct {
		args []string
		want string
		log  bool // a command with an error log
	}{
		{[]string{"sync", "--concurency", "3"}, "no flag --concurency: did you mean --concurrency?", true},
		{[]string{"sync", "-concurency", "3"}, "no flag --concurency: did you mean --concurrency?", true},
		{[]string{"plan", "--trg_kms_key_alais", "x"}, "did you mean --trg_kms_key_alias?", true},
		{[]string{"plan", "--trg-kms-key-alias", "x"}, "did you mean --trg_kms_key_alias?", true},
		{[]string{"export", "--relase-dir", "x"}, "did you mean --release-dir?", true},
		{[]string{"bundle", "verify", "--temp-dri", "x"}, "did you mean --temp-dir?", false},
		{[]string{"config", "show", "--concurency", "3"}, "did you mean --concurrency?", false},
		{[]string{"snyc"}, `Did you mean "sync"?`, false},
		{[]string{"verfiy"}, `Did you mean "verify"?`, false},
		{[]string{"plan", "--zzzzzzzzzzzz"}, "", true},
		{[]string{"frobnicate"}, "", false},
	} {
		must(t, os.WriteFile(errorLog, nil, 0o644))
		code, out, errOut := runCLI(t, c.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", c.args, code)
		}
		if c.want != "" && !strings.Contains(errOut, c.want) {
			t.Errorf("%v: no %q in %q", c.args, c.want, errOut)
		}
		if c.want == "" && strings.Contains(strings.ToLower(errOut+out), "did you mean") {
			t.Errorf("%v: a far-off suggestion: %q", c.args, errOut)
		}
		if logged, _ := os.ReadFile(errorLog); c.log && !strings.Contains(string(logged), c.want) {
			t.Errorf("%v: error log %q lacks %q", c.args, logged, c.want)
		}
	}
}

// TestFlagMistakesSaidPlainly: a flag for the token sends the operator to TM_TOKEN and
// never repeats its value (console, error log); a value of the wrong kind says what a
// good one is; flags are named as typed (--name), in the console and the error log alike.
func TestFlagMistakesSaidPlainly(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	errorLog := filepath.Join(t.TempDir(), "sync-error.log")
	t.Setenv("TMSYNC_ERROR_LOG", errorLog)
	const tok = "tok-in-a-flag-5a1c"
	const toTM = "the vendor token goes in the TM_TOKEN environment variable, or in the Secrets Manager secret"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--TM_TOKEN=" + tok}, "no flag --TM_TOKEN: " + toTM},
		{[]string{"sync", "--tm-token", tok}, "no flag --tm-token: " + toTM},
		{[]string{"plan", "--token", tok}, "no flag --token: " + toTM},
		{[]string{"verify", "-token=" + tok, "--concurrency", "2"}, "no flag --token: " + toTM},
		{[]string{"export", "--vendor-token", tok}, "no flag --vendor-token: " + toTM},
		{[]string{"sync", "--password", tok}, "no flag --password: " + toTM},
		// The value in the same argument, by a quoting slip or glued to the name.
		{[]string{"sync", "--token " + tok}, "no flag --token…: " + toTM},
		{[]string{"sync", "--token:" + tok}, "no flag --token…: " + toTM},
		{[]string{"sync", "--srcpasswd" + tok}, "no flag --srcpasswd…: " + toTM},
		{[]string{"sync", "--tm-token" + tok}, "no flag --tm-token…: " + toTM},
		{[]string{"sync", "--token-" + tok}, "no flag --token…: " + toTM},
		// A short one glued on, close enough to --srcpasswd for a suggestion.
		{[]string{"sync", "--srcpasswdQ7x"}, "no flag --srcpasswd…: did you mean --srcpasswd?"},
		{[]string{"plan", "--concurrency 2"}, "no flag --concurrency…: did you mean --concurrency?"},
		{[]string{"sync", "--concurrency", "x"}, `--concurrency "x": want a whole number, 1 or more`},
		{[]string{"plan", "--retries=-x"}, `--retries "-x": want a whole number, 0 or more`},
		{[]string{"plan", "--scan-wait", "5"}, `--scan-wait "5": want a duration such as 90s, 5m or 1h30m`},
		{[]string{"plan", "--dry-run=maybe"}, `--dry-run "maybe": want true or false`},
		{[]string{"plan", "--concurrency"}, "--concurrency needs a value"},
		{[]string{"plan", "--frobnicate-widely"}, "no flag --frobnicate-widely (tmsync plan --help lists them)"},
		{[]string{"--frobnicate-widely"}, "no flag --frobnicate-widely (tmsync --help lists them)"},
		// A typo of a real flag whose name has "token" in it is a typo, not a token's place.
		{[]string{"sync", "--src-token-secrt", "tm-sync-token"}, "no flag --src-token-secrt: did you mean --src-token-secret?"},
		// export's own refusal of a sync flag: the same words in the error log.
		{[]string{"export", "--to", "x", "--trgprefix", "foo"}, "--trgprefix is not a flag of export: "},
	} {
		must(t, os.WriteFile(errorLog, nil, 0o644))
		code, out, errOut := runCLI(t, c.args...)
		logged, _ := os.ReadFile(errorLog)
		if code != 2 || !strings.Contains(errOut, "ERROR: "+c.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s", c.args, code, c.want, errOut)
		}
		if !strings.HasPrefix(c.args[0], "-") && !strings.Contains(string(logged), "ERROR: could not start: "+c.want) { // tmsync --flag: no run, no error log
			t.Errorf("%v: error log %q, want %q", c.args, logged, c.want)
		}
		for _, s := range []string{out, errOut, string(logged)} {
			if strings.Contains(s, tok) {
				t.Errorf("%v: the token's value printed: %q", c.args, s)
			}
			if regexp.MustCompile(`(^|\s)-[a-zA-Z_]{2,}|flag provided|parse error`).MatchString(s) {
				t.Errorf("%v: the flag package's words: %q", c.args, s)
			}
		}
	}
}

// TestVersionAndCompletion: version prints the module and its dependencies; completion
// prints a script for bash, zsh and fish, and refuses another shell.
func TestVersionAndCompletion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	for _, want := range []string{"tmsync ", "\ngo: go1.", "github.com/urfave/cli/v2 v2.", "go.podman.io/image/v5 "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("version: exit %d, no %q in:\n%s", code, want, out)
		}
	}
	for shell, want := range map[string]string{"bash": "complete -o bashdefault", "zsh": "#compdef tmsync", "fish": "complete -c tmsync"} {
		code, out, _ := runCLI(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, no %q", shell, code, want)
		}
	}
	if code, _, errOut := runCLI(t, "completion", "powershell"); code != 2 || !strings.Contains(errOut, "bash, zsh or fish") {
		t.Errorf("completion powershell: exit %d %q", code, errOut)
	}
	// The completion protocol answers with the commands and a command's flags.
	// (urfave/cli reads os.Args for it: run the test binary as tmsync.)
	complete := func(args ...string) string {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "TMSYNC_TEST_MAIN=1")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return string(b)
	}
	if out := complete("--generate-bash-completion"); !strings.Contains(out, "sync\n") || !strings.Contains(out, "completion\n") {
		t.Errorf("completion candidates: %q", out)
	}
	if out := complete("plan", "--trg_k", "--generate-bash-completion"); !strings.Contains(out, "--trg_kms_key_alias") {
		t.Errorf("flag completion candidates: %q", out)
	}
}

// TestOldBooleanSpelling: the old pipeline's "--flag True" (a separate word, any case)
// parses as the flag set, not as a stray argument.
func TestOldBooleanSpelling(t *testing.T) {
	for _, v := range []string{"True", "TRUE", "false", "False"} {
		code, _, errOut := runCLI(t, "plan", "--trg_dst_security_scan_enabled", v, "--target", "registry",
			"--trg-registry", "127.0.0.1:1", "--release-dir", "/nonexistent-release",
			"--error-log", filepath.Join(t.TempDir(), "sync-error.log"))
		if code != 2 || strings.Contains(errOut, "unexpected arguments") {
			t.Errorf("%s: exit %d: %s", v, code, errOut)
		}
	}
}

// TestConfigFile: --config sets flags by name, the command line overrides it, config show
// says where each value comes from with the token redacted, and a bad key is exit 2 naming
// the file and line.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/tmsync.yaml"
	must(t, os.WriteFile(cfg, []byte("trgregion: eu-central-1\nconcurrency: 8\ntrg_dst_security_scan_enabled: True\n"+
		"insecure-registry: [a.example:5000, b.example]\nrelease-dir: "+dir+"/no-such-release\n"), 0o644))
	t.Setenv("TM_TOKEN", "tok-in-env-7c1f")
	code, out, _ := runCLI(t, "config", "show", "--config", cfg, "--concurrency", "2")
	for _, re := range []string{`(?m)^trgregion: +eu-central-1 +# config$`, `(?m)^concurrency: +2 +# flag or environment$`,
		`(?m)^trg_dst_security_scan_enabled: +true +# config$`, `(?m)^insecure-registry: +\['a.example:5000', b.example\] +# config$`,
		`(?m)^# retries: +3 +# default$`, `(?m)^# vendor token: from TM_TOKEN \(REDACTED\)$`} {
		if code != 0 || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("config show: exit %d, no line like %s in:\n%s", code, re, out)
		}
	}
	if strings.Contains(out, "tok-in-env-7c1f") {
		t.Errorf("config show printed the token")
	}
	// A run reads it: the release folder it names is checked.
	code, out, errOut := runCLI(t, "plan", "--config", cfg, "--target", "registry", "--trg-registry", "127.0.0.1:1",
		"--error-log", filepath.Join(dir, "sync-error.log"))
	if code != 2 || !strings.Contains(out+errOut, "preflight: release folder "+dir+"/no-such-release") {
		t.Errorf("plan --config: exit %d: %s%s", code, out, errOut)
	}
	must(t, os.WriteFile(cfg, []byte("trgregion: x\nconcurrancy: 3\n"), 0o644))
	code, _, errOut = runCLI(t, "plan", "--config", cfg, "--error-log", dir+"/sync-error.log") // a bad --config writes it
	if code != 2 || !strings.Contains(errOut, cfg+`:2: no flag "concurrancy" (did you mean concurrency?)`) {
		t.Errorf("bad key: exit %d: %s", code, errOut)
	}
}

// TestECRFlagsWithRegistryTarget: the ECR-only flags given with --target registry (on the
// command line, in the environment or in --config) are accepted and named on one INFO
// line; with --target ecr, or left at their defaults, nothing is said.
func TestECRFlagsWithRegistryTarget(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ECR_KMS_ARN", "")
	cfg := filepath.Join(dir, "shared.yaml")
	must(t, os.WriteFile(cfg, []byte("trg-tag-mutability: MUTABLE\nprune-tags: true\n"), 0o644))
	rel := filepath.Join(dir, "rel")
	must(t, os.MkdirAll(rel, 0o755))
	must(t, os.WriteFile(filepath.Join(rel, "ecr_policy.json"), []byte("123456789012\n"), 0o644)) // a default file found: not "given"
	base := []string{"plan", "--release-dir", rel, "--error-log", filepath.Join(dir, "e.log"), "--trg-registry", "127.0.0.1:1", "--skip-preflight"}
	const tail = ": ECR repository settings, ignored with --target registry"
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string // the INFO line, "" none
	}{
		{"flags", []string{"--target", "registry", "--trg_dst_security_scan_enabled", "True", "--trg_kms_key_alias", "alias/x",
			"--trg_ecr_policy_file_path", filepath.Join(dir, "p.json"), "--trg_ecr_lifecycle_file_path=" + filepath.Join(dir, "l.json")}, nil,
			"INFO: --trg_dst_security_scan_enabled, --trg_kms_key_alias, --trg_ecr_policy_file_path, --trg_ecr_lifecycle_file_path" + tail},
		{"environment and config", []string{"--target", "registry", "--config", cfg}, map[string]string{"ECR_KMS_ARN": "arn:aws:kms:eu-central-1:123456789012:key/k"},
			"INFO: --trg_kms_key_alias, --trg-tag-mutability, --prune-tags" + tail},
		{"defaults", []string{"--target", "registry"}, nil, ""},
		{"ecr", []string{"--trg_dst_security_scan_enabled", "--trg_kms_key_alias", "alias/x"}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, append(append([]string{}, base...), c.args...)...)
			// The run stops on the empty release folder, not on these flags.
			if regexp.MustCompile(`(?m)^ERROR:.*(trg_|prune-tags|tag-mutability|--target)`).MatchString(out + errOut) {
				t.Errorf("refused (exit %d): %s%s", code, out, errOut)
			}
			got := strings.Count(out+errOut, tail)
			switch {
			case c.want == "" && got != 0:
				t.Errorf("an INFO line without ECR flags given:\n%s%s", out, errOut)
			case c.want != "" && (got != 1 || !strings.Contains(out+errOut, c.want+"\n")):
				t.Errorf("want the one line %q, got:\n%s%s", c.want, out, errOut)
			}
		})
	}
}
