package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// noRun are flags that stop a sync before any network call whatever the flags under test
// do: a target on a closed port and a release folder that does not exist.
func noRun(t *testing.T, errorLog string) []string {
	return []string{"--target", "registry", "--trg-registry", "127.0.0.1:1", "--release-dir", filepath.Join(t.TempDir(), "no-release"),
		"--error-log", errorLog}
}

// TestArgumentErrorsAreRedacted: an error that quotes an argument (a stray argument, a
// flag value that does not parse, an unknown command, a reference) never prints the
// token, whether it came from TM_TOKEN, --srcpasswd or a reference's credentials; the
// error log written for it neither.
func TestArgumentErrorsAreRedacted(t *testing.T) {
	const tok = "tm-argv-token-8d31c7f0"
	digest := "sha256:" + strings.Repeat("1", 64)
	for _, c := range []struct {
		name  string
		env   string // TM_TOKEN
		args  []string
		want  string // in stderr
		token string // must not be printed
	}{
		{"env stray argument", tok, []string{"sync", "--dry-run", tok}, "unexpected arguments", tok},
		{"env flag value", tok, []string{"sync", "--concurrency", tok}, "-concurrency", tok},
		{"env flag value =", tok, []string{"plan", "--concurrency=" + tok}, "-concurrency", tok},
		{"env trailing newline", tok + "\n", []string{"sync", "--retries", tok}, "-retries", tok},
		{"env unknown command", tok, []string{tok}, "no command", tok},
		{"env bad duration", tok, []string{"verify", "--idle-timeout", tok}, "-idle-timeout", tok},
		{"argv --srcpasswd", "", []string{"sync", "--srcpasswd", tok, "--concurrency", tok}, "-concurrency", tok},
		{"argv -srcpasswd=", "", []string{"sync", "-srcpasswd=" + tok, "stray", tok}, "unexpected arguments", tok},
		{"reference sync", "", []string{"sync", "_tm:" + tok + "@vendor.example/vault/core@" + digest}, "unexpected arguments", tok},
		{"reference copy", "", []string{"copy", "_tm:" + tok + "@vendor.example/vault/core@" + digest, "127.0.0.1:1/x:1"}, "no credentials", tok},
		{"reference copy, slash in token", "", []string{"copy", "_tm:ab/" + tok + "@vendor.example/vault/core:1", "127.0.0.1:1/x:1"}, "no credentials", "ab/" + tok},
		{"reference copy, short password", "", []string{"copy", "127.0.0.1:1/x:1", "docker://_tm:x9!@vendor.example/vault/core:1"}, "_tm:[REDACTED]@", "x9!"},
		{"reference copy, token as user", "", []string{"copy", tok + "@vendor.example/vault/core:1", "127.0.0.1:1/x:1"}, "[REDACTED]@vendor", tok},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TM_TOKEN", c.env)
			errorLog := filepath.Join(t.TempDir(), "sync-error.log")
			t.Setenv("TMSYNC_ERROR_LOG", errorLog)
			code, out, errOut := runCLI(t, c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\n%s", code, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q lacks %q", errOut, c.want)
			}
			log, _ := os.ReadFile(errorLog)
			for _, s := range []string{out, errOut, string(log)} {
				if strings.Contains(s, c.token) {
					t.Errorf("the token was printed: %q", s)
				}
			}
		})
	}
}

// TestFlagValuesCheckedWhenRead: a value that cannot work is refused when the flags are
// read, exit 2, the message naming the flag and the value, one message per flag.
func TestFlagValuesCheckedWhenRead(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--idle-timeout", "1ms"}, "--idle-timeout 1ms: want at least 1s"},
		{[]string{"plan", "--idle-timeout", "999ms"}, "--idle-timeout 999ms: want at least 1s"},
		{[]string{"sync", "--idle-timeout", "0s"}, "--idle-timeout 0s: want at least 1s"},
		{[]string{"sync", "--idle-timeout", "-1m"}, "--idle-timeout -1m0s: want at least 1s"},
		{[]string{"sync", "--trg-tag-mutability", "FOO"}, `--trg-tag-mutability "FOO": want IMMUTABLE or MUTABLE`},
		{[]string{"sync", "--trg-tag-mutability", "IMMUTABLE_WITH_EXCLUSION"}, `--trg-tag-mutability "IMMUTABLE_WITH_EXCLUSION"`},
		{[]string{"sync", "--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{[]string{"sync", "--throttle_ecr_creation_ms", "-1"}, "--throttle_ecr_creation_ms -1: want 0 or more"},
		{[]string{"sync", "--trg_ecr_image_untagged_delete_days", "0"}, "--trg_ecr_image_untagged_delete_days 0: want at least 1"},
		{[]string{"sync", "--retries", "-2"}, "--retries -2: want 0 or more"},
		{[]string{"sync", "--log-format", "xml"}, `--log-format "xml": want text or json`},
		{[]string{"verify", "--log-format", "yaml", "--log-level", "info"}, `--log-format "yaml": want text or json`},
		{[]string{"sync", "--cache-max-bytes", "lots"}, `--cache-max-bytes "lots"`},
		{[]string{"sync", "--cache-max-bytes", "-5"}, `--cache-max-bytes "-5"`},
		{[]string{"sync", "--cache-max-bytes", "2PB"}, `--cache-max-bytes "2PB"`},
		{[]string{"sync", "--byo-policy", "foo"}, `--byo-policy "foo": want pinned or attested`},
		{[]string{"plan", "--byo-policy", "pinned-ish"}, `--byo-policy "pinned-ish"`},
		// A key id is not a fingerprint; an empty one is a comma too many.
		{[]string{"sync", "--src-attestor-fingerprint", "783B9D965E3A6CC6"}, `--src-attestor-fingerprint: "783B9D965E3A6CC6" is a 16-digit key id, not the key's fingerprint`},
		{[]string{"plan", "--src-attestor-fingerprint", "0123456789ABCDEF0123456789ABCDEF01234567,"}, "--src-attestor-fingerprint: an empty fingerprint"},
		{[]string{"verify", "--src-attestor-fingerprint", "0123456789ABCDEF0123456789ABCDEF0123456"}, "is not a key fingerprint: want 40 hex digits"},
		// The token would cross the network in clear text; said before the preflight asks.
		{[]string{"sync", "--src_attestions_address", "http://attestations.example/v1beta1/occ"},
			`--src_attestions_address: attestation address "http://attestations.example/v1beta1/occ": plain http would send the vendor token in clear text`},
		{[]string{"plan", "--src_attestions_address", "http://10.0.0.1:8080/occ"}, "--src_attestions_address: attestation address"},
		{[]string{"verify", "--src_attestions_address", "ftp://attestations.example/occ"}, "want an http(s) URL"},
	} {
		errorLog := filepath.Join(t.TempDir(), "sync-error.log")
		code, _, errOut := runCLI(t, append(c.args, noRun(t, errorLog)...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s", c.args, code, c.want, errOut)
		}
		// One message per flag: the others are not named.
		for _, other := range []string{"--concurrency", "--throttle_ecr_creation_ms", "--trg_ecr_image_untagged_delete_days", "--idle-timeout"} {
			if !strings.Contains(c.want, other) && strings.Contains(errOut, other) {
				t.Errorf("%v: the message names %s too:\n%s", c.args, other, errOut)
			}
		}
		if log, _ := os.ReadFile(errorLog); !strings.Contains(string(log), c.want) {
			t.Errorf("%v: error log %q lacks %q", c.args, log, c.want)
		}
	}
	// Good values, any case where the code takes any case, pass the flag checks (the run
	// stops later, at the missing release folder).
	for _, good := range [][]string{
		{"sync", "--idle-timeout", "1s"}, {"sync", "--idle-timeout", "1m"},
		{"sync", "--trg-tag-mutability", "MUTABLE"}, {"sync", "--trg-tag-mutability", "immutable"}, {"plan", "--trg-tag-mutability", "Mutable"},
		{"sync", "--log-format", "JSON"}, {"sync", "--log-format", "text"},
		{"sync", "--cache-max-bytes", "500MiB"}, {"sync", "--cache-max-bytes", "2GB"}, {"sync", "--cache-max-bytes", "1048576"}, {"sync", "--cache-max-bytes", "0"}, {"sync", "--cache-max-bytes", "0MiB"}, {"sync", "--cache-max-bytes", "0B"},
		{"sync", "--throttle_ecr_creation_ms", "0"},
		{"sync", "--byo-policy", "attested"}, {"sync", "--byo-policy", "Pinned"},
		{"sync", "--src-attestor-fingerprint", "0123 4567 89ab cdef 0123  4567 89AB CDEF 0123 4567"},
		{"sync", "--src_attestions_address", "http://127.0.0.1:1/occ"}, {"sync", "--src_attestions_address", "http://localhost:1/occ"},
		{"sync", "--src_attestions_address", "http://[::1]:1/occ"},
		// Not asked with an attestation bundle: its address is not checked.
		{"sync", "--src_attestions_address", "http://attestations.example/occ", "--attestation-bundle", "b.json"},
	} {
		code, out, errOut := runCLI(t, append(good, noRun(t, filepath.Join(t.TempDir(), "e.log"))...)...)
		errOut += out // the run's own errors are on the console
		// noRun's --target registry: the ECR flags given are named on an INFO line.
		errOut = regexp.MustCompile(`(?m)^INFO: .*ignored with --target registry\n`).ReplaceAllString(errOut, "")
		if code != 2 || !strings.Contains(errOut, "no-release") || strings.Contains(errOut, good[1]) {
			t.Errorf("%v: exit %d, want the missing release folder and not the flag:\n%s", good, code, errOut)
		}
	}
}

// TestCommandLineErrorsWriteTheErrorLog: a command line that cannot start a run (a flag
// that does not parse, an unknown flag, a stray argument, a bad --config) rewrites the
// error log, as the run's own flag checks do, so that an old log does not say an old
// run's story under a new exit status 2; an old --report is left, as those checks leave it.
func TestCommandLineErrorsWriteTheErrorLog(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	must(t, os.WriteFile(badCfg, []byte("concurrency: 4\nno-such-key: 1\n"), 0o644))
	cfgLog := filepath.Join(dir, "from-config.log")
	cfgWithLog := filepath.Join(dir, "withlog.yaml")
	must(t, os.WriteFile(cfgWithLog, []byte("error-log: "+cfgLog+"\n"), 0o644))
	log := filepath.Join(dir, "sync-error.log")
	report := filepath.Join(dir, "report.json")
	for _, c := range []struct {
		name    string
		args    []string
		env     string // TMSYNC_ERROR_LOG
		log     string // the log that must be written
		wantLog string
	}{
		{"unknown flag", []string{"sync", "--error-log", log, "--no-such-flag"}, "", log, "no flag --no-such-flag"},
		{"bad value, --error-log after it", []string{"sync", "--concurrency", "x", "--error-log", log}, "", log, `--concurrency "x": want a whole number, 1 or more`},
		{"bad value, --error-log=", []string{"plan", "--concurrency", "x", "--error-log=" + log}, "", log, `--concurrency "x": want a whole number, 1 or more`},
		{"single dash", []string{"verify", "-concurrency", "x", "-error-log", log}, "", log, `--concurrency "x": want a whole number, 1 or more`},
		{"environment", []string{"sync", "--no-such-flag"}, log, log, "no flag --no-such-flag"},
		{"from --config", []string{"sync", "--config", cfgWithLog, "--no-such-flag"}, "", cfgLog, "no flag --no-such-flag"},
		{"stray argument", []string{"sync", "--error-log", log, "stray"}, "", log, "unexpected arguments"},
		{"bad --config", []string{"sync", "--error-log", log, "--config", badCfg}, "", log, "bad.yaml:2"},
		{"checked value", []string{"sync", "--error-log", log, "--concurrency", "0"}, "", log, "--concurrency 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TMSYNC_ERROR_LOG", c.env)
			must(t, os.WriteFile(c.log, []byte("ERROR: vault/core:5.0.3: an old run's failure\n"), 0o644))
			must(t, os.WriteFile(report, []byte(`{"old":true}`), 0o644))
			code, _, errOut := runCLI(t, append(c.args, "--report", report)...)
			if code != 2 {
				t.Errorf("exit %d, want 2: %s", code, errOut)
			}
			got, err := os.ReadFile(c.log)
			must(t, err)
			if strings.Contains(string(got), "old run") || !strings.Contains(string(got), "ERROR: could not start: ") || !strings.Contains(string(got), c.wantLog) {
				t.Errorf("error log %q: want the new error (%q)", got, c.wantLog)
			}
			if rep, _ := os.ReadFile(report); string(rep) != `{"old":true}` {
				t.Errorf("report changed: %q", rep)
			}
		})
	}
	// Without any --error-log, the default sync-error.log in the working folder.
	t.Chdir(t.TempDir())
	t.Setenv("TMSYNC_ERROR_LOG", "")
	if code, _, _ := runCLI(t, "sync", "--bogus"); code != 2 {
		t.Fatalf("exit %d", code)
	}
	got, err := os.ReadFile("sync-error.log")
	must(t, err)
	os.Remove("sync-error.log")
	if !strings.Contains(string(got), "bogus") {
		t.Errorf("default error log %q", got)
	}
	// Not a run: a mistyped command, help, version write no log.
	for _, args := range [][]string{{"snyc"}, {"sync", "--help"}, {"version"}, {"report", "merge", "--bogus"}} {
		runCLI(t, args...)
		if _, err := os.Stat("sync-error.log"); err == nil {
			t.Errorf("%v wrote sync-error.log", args)
			os.Remove("sync-error.log")
		}
	}
}

// TestBlankToken: TM_TOKEN of white space only is an error naming TM_TOKEN, exit 2 (an
// empty one is no token, as before); a token with a trailing newline or CRLF is the token.
func TestBlankToken(t *testing.T) {
	for _, blank := range []string{" ", "\n", "\r\n", " \t \r\n"} {
		t.Setenv("TM_TOKEN", blank)
		errorLog := filepath.Join(t.TempDir(), "sync-error.log")
		for _, args := range [][]string{append([]string{"sync"}, noRun(t, errorLog)...), {"copy", "docker.external.thoughtmachine.io/x:1", "b.example/y:1"}, {"config", "show"},
			{"export", "--to", filepath.Join(t.TempDir(), "b"), "--error-log", filepath.Join(t.TempDir(), "e.log")}} {
			code, _, errOut := runCLI(t, args...)
			if code != 2 || !strings.Contains(errOut, "TM_TOKEN is set but blank") {
				t.Errorf("TM_TOKEN=%q %s: exit %d: %s", blank, args[0], code, errOut)
			}
		}
		if log, _ := os.ReadFile(errorLog); !strings.Contains(string(log), "TM_TOKEN") {
			t.Errorf("error log %q does not name TM_TOKEN", log)
		}
	}
	// Where TM_TOKEN is not used (--srcpasswd wins over it; a copy from another registry
	// than the vendor's), a blank one stops nothing; config show still shows the settings.
	t.Setenv("TM_TOKEN", " ")
	if code, out, errOut := runCLI(t, "copy", "--insecure-registry", "127.0.0.1:1", "127.0.0.1:1/x:1", "127.0.0.1:1/y:1"); code == 0 ||
		strings.Contains(out+errOut, "TM_TOKEN is set but blank") || !strings.Contains(out+errOut, "127.0.0.1:1") {
		t.Errorf("blank TM_TOKEN, copy from another registry: exit %d: %s", code, out+errOut)
	}
	if code, out, errOut := runCLI(t, "config", "show"); code != 2 || !strings.Contains(out, "concurrency:") ||
		!strings.Contains(out, "TM_TOKEN is set but blank") || !strings.Contains(errOut, "TM_TOKEN is set but blank") {
		t.Errorf("blank TM_TOKEN, config show: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, append([]string{"plan", "--srcpasswd", "tok-flag-5512"}, noRun(t, filepath.Join(t.TempDir(), "e.log"))...)...); code != 2 ||
		strings.Contains(out+errOut, "TM_TOKEN is set but blank") || !strings.Contains(out+errOut, "no-release") {
		t.Errorf("blank TM_TOKEN with --srcpasswd: exit %d: %s", code, out+errOut)
	}
	for _, v := range []string{"tok-crlf-4411\r\n", "  tok-crlf-4411\n"} {
		t.Setenv("TM_TOKEN", v)
		code, out, _ := runCLI(t, "config", "show")
		if code != 0 || !strings.Contains(out, "vendor token: from TM_TOKEN") {
			t.Errorf("TM_TOKEN=%q: exit %d\n%s", v, code, out)
		}
	}
	t.Setenv("TM_TOKEN", "")
	if code, out, _ := runCLI(t, "config", "show"); code != 0 || !strings.Contains(out, "vendor token: not set") {
		t.Errorf("empty TM_TOKEN: exit %d\n%s", code, out)
	}
}

// TestConfigKeyTwice: a key given twice in --config (or one flag under two of its names)
// is an error naming the file and the line of the second, exit 2.
func TestConfigKeyTwice(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{"concurrency: 4\ntrgregion: eu-west-1\nconcurrency: 8\n", "dup.yaml:3: concurrency given twice (first on line 1)"},
		{"src_release_postfix: a.json\n\nsrc_release: b.json\n", "dup.yaml:3: src_release given twice (first on line 1)"},
		{"insecure-registry: [a.example]\ninsecure-registry:\n  - b.example\n", "dup.yaml:2: insecure-registry given twice"},
	} {
		cfg := filepath.Join(dir, "dup.yaml")
		must(t, os.WriteFile(cfg, []byte(c.body), 0o644))
		for _, args := range [][]string{append([]string{"sync", "--config", cfg}, noRun(t, filepath.Join(dir, "e.log"))...), {"config", "show", "--config", cfg}} {
			code, _, errOut := runCLI(t, args...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("%s %q: exit %d, want 2 and %q: %s", args[0], c.body, code, c.want, errOut)
			}
		}
	}
	// The same key in a nested value is not a key of the file.
	cfg := filepath.Join(dir, "ok.yaml")
	must(t, os.WriteFile(cfg, []byte("concurrency: 4\ninsecure-registry: [concurrency, concurrency]\n"), 0o644))
	if code, _, errOut := runCLI(t, "config", "show", "--config", cfg); code != 0 {
		t.Errorf("a list with repeated values: exit %d: %s", code, errOut)
	}
}

// TestCopyBadInputExitsTwo: copy's bad input (a reference that does not parse, one with
// credentials in it, an attestor key that does not exist, a source outside the vendor
// registry by tag) is exit 2, before anything is pushed; a registry that cannot be reached
// stays exit 1.
func TestCopyBadInputExitsTwo(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	missingKey := filepath.Join(t.TempDir(), "no-such-key.pgp")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"copy", "Not A Ref", "127.0.0.1:1/x:1"}, 2, "SRC Not A Ref: not a registry reference"},
		{[]string{"copy", "127.0.0.1:1/x:1", "127.0.0.1:1/y:1:2"}, 2, "DEST 127.0.0.1:1/y:1:2"},
		{[]string{"copy", "127.0.0.1:1/x:1@sha256:abc", "127.0.0.1:1/y:1"}, 2, "SRC"},
		{[]string{"copy", "u:p4ss-word@127.0.0.1:1/x:1", "127.0.0.1:1/y:1"}, 2, "no credentials"},
		// The vendor registry is SRC's host: its attestation is checked, with a key that is missing.
		{[]string{"copy", "--srcdomain", "127.0.0.1:1", "--src_attestor", missingKey, "127.0.0.1:1/vault/core:5.0.3", "127.0.0.1:2/x:1"}, 2, "no-such-key.pgp"},
		// Outside the vendor registry and by tag: --byo-policy=pinned asks for a digest
		// (the source, which does not answer, offers none).
		{[]string{"copy", "--insecure-registry", "127.0.0.1:1", "127.0.0.1:1/x:1", "127.0.0.1:2/y:1"}, 2, "names no digest"},
		// Not bad input: the source does not answer.
		{[]string{"copy", "--insecure-registry", "127.0.0.1:1", "127.0.0.1:1/x@sha256:" + strings.Repeat("0", 64), "127.0.0.1:2/y:1"}, 1, "ERROR: copy 127.0.0.1:1/x@sha256:"},
	} {
		code, _, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want %d and %q: %s", c.args, code, c.code, c.want, errOut)
		}
	}
}

// TestCacheMaxBytesFlag: --cache-max-bytes bounds the run's blob store (the report's
// transfer.store.maxBytes), in bytes or with a suffix; 0 keeps the default bound.
func TestCacheMaxBytesFlag(t *testing.T) {
	b := newBed(t)
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 2, LayerSize: 32 << 10},
		{Repository: "vault/postings", Tag: "5.0.3", Layers: 1, LayerSize: 16 << 10},
	}
	b.push(images, 7, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	t.Setenv("TM_TOKEN", b.token)
	for i, c := range []struct {
		flag string
		want int64 // 0: not this
	}{{"3MiB", 3 << 20}, {"3145729", 3<<20 + 1}, {"0", 0}} {
		// A new prefix each time: every image is copied, through the store.
		code, _ := b.run(b.args(rel, "--trgprefix", fmt.Sprintf("/run%d/", i), "--cache-max-bytes", c.flag))
		if code != 0 {
			t.Fatalf("--cache-max-bytes %s: exit %d: %s", c.flag, code, b.errorLog())
		}
		rep := b.report()
		if rep.Transfer == nil || rep.Transfer.Store == nil {
			t.Fatalf("--cache-max-bytes %s: no store in the report", c.flag)
		}
		got := rep.Transfer.Store.MaxBytes
		if (c.want != 0 && got != c.want) || (c.want == 0 && (got == 3<<20 || got == 3<<20+1 || got <= 0)) {
			t.Errorf("--cache-max-bytes %s: store bound %d, want %d", c.flag, got, c.want)
		}
	}
}

// A command line that does not parse, whose error log cannot be written, says so: the
// pipeline would otherwise find no log and no word of why.
func TestCommandLineErrorLogUnwritable(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	bad := filepath.Join(t.TempDir(), "no-such-dir", "e.log")
	code, out, errOut := runCLI(t, "sync", "--retries", "x", "--error-log="+bad)
	if code != 2 || !strings.Contains(out+errOut, "ERROR: writing "+bad) {
		t.Errorf("exit %d, output %q: want 2 and a line saying the error log could not be written", code, out+errOut)
	}
}
