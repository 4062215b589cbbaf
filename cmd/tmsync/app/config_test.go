package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// readBack runs a sync-like command with args and returns the Args it would run with
// (the token left out: it never goes in a file; the --config file's name too).
func readBack(t *testing.T, args ...string) Args {
	t.Helper()
	var got Args
	app := &cli.App{Name: "tmsync", Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{{
		Name: "sync", Flags: append(modeFlags("sync"), configFlag()), Before: applyConfig,
		Action: func(c *cli.Context) error {
			got, _ = argsFromFlags(c, io.Discard) // a value a check refuses is still read
			return nil
		},
	}}}
	if err := app.Run(append([]string{"tmsync", "sync"}, args...)); err != nil {
		t.Fatalf("sync %q: %v", args, err)
	}
	got.SrcPassword = ""
	got.Config = "" // where the settings came from, not a setting
	return got
}

// TestConfigShowRoundTrip: what config show prints, read back as --config, gives the
// settings it showed: every flag (strings with ':', '#', quotes and spaces, lists,
// durations, booleans, numbers), defaults left as defaults (a settings file named by
// default is still looked for in the release folder), and no token in it.
func TestConfigShowRoundTrip(t *testing.T) {
	for _, k := range []string{"AWS_REGION", "ECR_KMS_ARN", "TM_TOKEN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	rel := filepath.Join(dir, "rel")
	must(t, os.MkdirAll(rel, 0o755))
	must(t, os.WriteFile(filepath.Join(rel, "ecr_policy.json"), []byte("123456789012\n"), 0o644))
	t.Chdir(dir)

	odd := []string{`a:b #c "q" 'x' `, ` lead`, `true`, `0x10`, `- dash`, `~`, `{x}`, "a\tb", `ünï côdé`, `@at`, `!tag`, `%pct`, `*star`, `&amp`, `|pipe`, `>gt`}
	var all []string
	i := 0
	for _, f := range modeFlags("sync") {
		name := f.Names()[0]
		if name == "help" {
			continue
		}
		switch f := f.(type) {
		case *cli.BoolFlag:
			all = append(all, "--"+name+"="+map[bool]string{true: "false", false: "true"}[f.Value])
		case *cli.IntFlag:
			all = append(all, "--"+name, "7")
		case *cli.DurationFlag:
			all = append(all, "--"+name, (90*time.Second + 250*time.Millisecond).String())
		case *cli.StringSliceFlag:
			all = append(all, "--"+name, "h.example:5000", "--"+name, "p q #r")
		case *cli.StringFlag:
			if name == "srcpasswd" {
				// The token: config show redacts its value wherever it appears, so it
				// gets a value no other flag has.
				all = append(all, "--"+name, "tok-only-in-srcpasswd-7e41")
				continue
			}
			all = append(all, "--"+name, odd[i%len(odd)])
			i++
		default:
			t.Fatalf("--%s: a flag of type %T: teach this test its values", name, f)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"every flag", all},
		{"defaults", []string{"--release-dir", rel}},
		{"empty values", []string{"--release-dir", rel, "--trgregion", "", "--report", "", "--concurrency", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			// Odd values on purpose: a run would refuse some (exit 2, said after the
			// settings); what is printed must read back all the same.
			if code := Run(context.Background(), append([]string{"tmsync", "config", "show"}, tc.args...), &out, &errOut); code != 0 && code != 2 {
				t.Fatalf("config show: exit %d: %s", code, errOut.String())
			}
			if strings.Contains(out.String(), "srcpasswd") && regexp.MustCompile(`(?m)^srcpasswd:`).MatchString(out.String()) {
				t.Errorf("config show printed a srcpasswd key:\n%s", out.String())
			}
			cfg := filepath.Join(dir, "cfg.yaml")
			must(t, os.WriteFile(cfg, out.Bytes(), 0o644))
			want, got := readBack(t, tc.args...), readBack(t, "--config", cfg)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("read back, settings differ:\nflags:  %v\nconfig: %v\nfile:\n%s", want, got, out.String())
			}
			// And config show of the file shows the same values.
			var again bytes.Buffer
			if code := Run(context.Background(), []string{"tmsync", "config", "show", "--config", cfg}, &again, io.Discard); code != 0 && code != 2 {
				t.Fatalf("config show --config: exit %d", code)
			}
			strip := regexp.MustCompile(`(?m)\s+# (flag or environment|config|default)$|^# (config file|vendor token): .*\n?`)
			if a, b := strip.ReplaceAllString(out.String(), ""), strip.ReplaceAllString(again.String(), ""); a != b {
				t.Errorf("config show of the file differs:\n%s\n---\n%s", a, b)
			}
		})
	}
	// The token given by flag is never in the output.
	var out bytes.Buffer
	Run(context.Background(), []string{"tmsync", "config", "show", "--srcpasswd", "tok-b1e2"}, &out, io.Discard)
	if strings.Contains(out.String(), "tok-b1e2") || !strings.Contains(out.String(), "vendor token: from --srcpasswd") {
		t.Errorf("config show --srcpasswd:\n%s", out.String())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestConfigShowNoSecrets: config show prints no secret, whatever flag, variable or
// --config key holds it: the token given as another flag's value is redacted, and the
// password of a user:password@ reference or URL is masked.
func TestConfigShowNoSecrets(t *testing.T) {
	const tok = "tok_abcdefghij123"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte("trg-registry: 'u:SECRETXYZ2@reg.example:5000'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TM_TOKEN", tok)
	t.Setenv("TMSYNC_INSECURE_REGISTRY", "a:SECRETXYZ3@b:5000")
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"tmsync", "config", "show", "--config", cfg, "--srcdomain", tok,
		"--src_attestions_address", "https://u:SECRETXYZ1@h/x"}, &out, &errOut)
	// An address with credentials in it is a value a run refuses: exit 2, said on stderr,
	// which must hold no secret either.
	if code != 2 || !strings.Contains(errOut.String(), "--src_attestions_address") {
		t.Fatalf("exit %d, want 2 and the address refused\n%s", code, errOut.String())
	}
	for _, s := range []string{tok, "SECRETXYZ1", "SECRETXYZ2", "SECRETXYZ3"} {
		if strings.Contains(out.String()+errOut.String(), s) {
			t.Errorf("config show printed %s:\n%s", s, out.String())
		}
	}
	for _, want := range []string{"https://u:[REDACTED]@h/x", "u:[REDACTED]@reg.example:5000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config show has no %q:\n%s", want, out.String())
		}
	}
}

// TestConfigShowKeepsNonCredentials: only the flags that hold a registry or an address are
// masked; a Secrets Manager secret name with ':' and '@' reads back as it is.
func TestConfigShowKeepsNonCredentials(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	const secretName = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tm@prod-AbC123"
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"tmsync", "config", "show", "--src-token-secret", secretName}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), secretName) {
		t.Errorf("config show changed --src-token-secret:\n%s", out.String())
	}
}

// TestConfigShowRefusedValues: config show prints the settings, then says each value a run
// would refuse (checked as a run checks them), exit 2: settings that would not start a run
// are not shown as good. A run refuses the same values with the same words when it reads
// its flags, before its release folder is read (and so before any network): the target,
// the scan gate, the shards, the release pin and the evidence keys too, which were once
// checked only when the run built its target or its engine.
func TestConfigShowRefusedValues(t *testing.T) {
	t.Setenv("TM_TOKEN", "tok_abcdefghij123")
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-release")
	hex64 := strings.Repeat("ab", 32)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--src-attestor-fingerprint", "783B9D965E3A6CC6"}, `--src-attestor-fingerprint: "783B9D965E3A6CC6" is a 16-digit key id`},
		{[]string{"--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{[]string{"--src_attestions_address", "http://10.0.0.1/occ"}, "--src_attestions_address: attestation address"},
		{[]string{"--byo-policy", "none"}, `--byo-policy "none"`},
		{[]string{"--target", "s3"}, `--target "s3": want ecr or registry (any case)`},
		{[]string{"--target", "registry"}, "--target registry needs --trg-registry HOST[:PORT]"},
		{[]string{"--target", "REGISTRY", "--trg-registry", ""}, "--target registry needs --trg-registry HOST[:PORT]"},
		{[]string{"--fail-on-severity", "HIGH"}, "--fail-on-severity needs --scan-wait"},
		{[]string{"--fail-on-severity", "HIGH", "--scan-wait", "0s"}, "--fail-on-severity needs --scan-wait"},
		{[]string{"--fail-on-severity", "SEVERE", "--scan-wait", "1m"}, `--fail-on-severity "SEVERE": want one of CRITICAL, HIGH`},
		{[]string{"--scan-wait", "1m", "--target", "registry", "--trg-registry", "127.0.0.1:1"}, "--scan-wait needs --target ecr"},
		{[]string{"--shard-index", "2", "--shard-count", "2"}, "--shard-index 2: want 0 to 1 (--shard-count 2)"},
		{[]string{"--shard-index", "-1", "--shard-count", "3"}, "--shard-index -1: want 0 to 2"},
		{[]string{"--shard-count", "0"}, "--shard-count 0: want at least 1"},
		{[]string{"--release-sha256", "abc"}, `--release-sha256 "abc": want 64 hex digits`},
		{[]string{"--release-sha256", "sha512:" + hex64}, `--release-sha256 "sha512:`},
		{[]string{"--sign-kms-key", "alias/bank", "--bank-public-key", filepath.Join(dir, "bank.pem")}, "--sign-kms-key and --bank-public-key: give one"},
		{[]string{"--earlier-bundle", filepath.Join(dir, "b1")}, "--earlier-bundle needs --from-bundle"},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"tmsync", "config", "show"}, c.args...), &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), "ERROR: "+c.want) || !strings.Contains(out.String(), "concurrency") {
			t.Errorf("config show %v: exit %d, want 2, the settings and %q:\n%s", c.args, code, c.want, errOut.String())
		}
		errorLog := filepath.Join(dir, "sync-error.log")
		args := append([]string{"tmsync", "sync", "--release-dir", missing, "--error-log", errorLog}, c.args...)
		out.Reset()
		errOut.Reset()
		code = Run(context.Background(), args, &out, &errOut)
		console := out.String() + errOut.String()
		if code != 2 || !strings.Contains(console, c.want) || strings.Contains(console, "no-release") {
			t.Errorf("sync %v: exit %d, want 2 and %q when the flags are read, before the release folder:\n%s", c.args, code, c.want, console)
		}
		if log, _ := os.ReadFile(errorLog); !strings.Contains(string(log), c.want) {
			t.Errorf("sync %v: error log %q lacks %q", c.args, log, c.want)
		}
	}
	for _, good := range [][]string{
		{"--src-attestor-fingerprint", "0123 4567 89ab cdef 0123 4567 89AB CDEF 0123 4567"},
		// Any case, as --byo-policy and --trg-tag-mutability.
		{"--target", "ECR"}, {"--target", "Registry", "--trg-registry", "127.0.0.1:1"}, {"--target", " ecr "},
		{"--fail-on-severity", "high", "--scan-wait", "1m"}, {"--fail-on-severity", "Critical", "--scan-wait", "1m", "--target", "Ecr"},
		{"--shard-index", "1", "--shard-count", "2"},
		{"--release-sha256", "sha256:" + strings.ToUpper(hex64)}, {"--release-sha256", hex64},
	} {
		var out, errOut bytes.Buffer
		if code := Run(context.Background(), append([]string{"tmsync", "config", "show"}, good...), &out, &errOut); code != 0 {
			t.Errorf("config show %v: exit %d, want 0:\n%s", good, code, errOut.String())
		}
	}
	// A target in another case is the same target to the run: registry runs as registry
	// (it stops at the missing release folder, not at --target).
	for _, target := range []string{"REGISTRY", "Registry"} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), []string{"tmsync", "sync", "--release-dir", missing, "--error-log", filepath.Join(dir, "e.log"),
			"--target", target, "--trg-registry", "127.0.0.1:1", "--trg_kms_key_alias", "alias/x"}, &out, &errOut)
		console := out.String() + errOut.String()
		if code != 2 || !strings.Contains(console, "no-release") || strings.Contains(console, "--target") && !strings.Contains(console, "ignored with --target registry") {
			t.Errorf("sync --target %s: exit %d, want 2 at the missing release folder, the ECR flag said to be ignored:\n%s", target, code, console)
		}
	}
	if a := readBack(t, "--target", "Registry", "--trg-registry", "h:1"); a.Target != "registry" {
		t.Errorf("--target Registry read as %q, want registry", a.Target)
	}
}
