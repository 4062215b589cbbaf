package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/urfave/cli/v2"
)

// TestParseSize: one grammar (sizeForm) for every size flag: a whole number, then
// nothing, B, or K, M, G or T alone or with i, iB or B after it, in any case and with a
// space allowed before the unit. 0 is read like any size by parseSizeOrZero, in every
// unit a positive size takes (0Ki as 5Ki), and refused by parseSize.
func TestParseSize(t *testing.T) {
	good := map[string]int64{"1": 1, "1048576": 1 << 20, "1M": 1 << 20, "1m": 1 << 20, "1MiB": 1 << 20, "1MB": 1 << 20,
		"4G": 4 << 30, " 2K ": 2 << 10, "3T": 3 << 40, "5MiB": 5 << 20, "5 MiB": 5 << 20, "5mib": 5 << 20, "5 mib": 5 << 20,
		"5 M": 5 << 20, "5G": 5 << 30, "5 gb": 5 << 30, "7B": 7, "7 b": 7, "512\tKiB": 512 << 10, "4194304T": 1 << 62,
		"5Ki": 5 << 10, "5 Ki": 5 << 10, "5ki": 5 << 10, "5 KiB": 5 << 10, "5KB": 5 << 10, "2Gi": 2 << 30, "3 ti": 3 << 40}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
		if got, err := parseSizeOrZero(in); err != nil || got != want {
			t.Errorf("parseSizeOrZero(%q) = %d, %v; want %d", in, got, err, want)
		}
		// The same spelling of 0 is 0: the zero and the grammar agree.
		zero := regexp.MustCompile(`^\s*[0-9]+`).ReplaceAllString(in, "0")
		if got, err := parseSizeOrZero(zero); err != nil || got != 0 {
			t.Errorf("parseSizeOrZero(%q) = %d, %v; want 0", zero, got, err)
		}
		if _, err := parseSize(zero); err == nil || !strings.Contains(err.Error(), "want a positive size") {
			t.Errorf("parseSize(%q): %v, want 0 refused", zero, err)
		}
	}
	for _, in := range []string{"0", "0Ki", "0KiB", "0 KiB", "0B", "000", "0 mib", "0gb"} {
		if got, err := parseSizeOrZero(in); err != nil || got != 0 {
			t.Errorf("parseSizeOrZero(%q) = %d, %v; want 0", in, got, err)
		}
	}
	const grammar = "want a whole number of bytes, or one with K, M, G or T"
	for in, why := range map[string]string{
		"": grammar, "-1": grammar, "-0": grammar, "+5": grammar, "1e3": grammar, "1E3": grammar, "0e0": grammar,
		"1.5G": "whole numbers only", "1.5Gi": "whole numbers only", "1,5G": "whole numbers only", "0.5 K": "whole numbers only", "0.0": "whole numbers only",
		"99999999999T": "too large", "4194305T": "too large", "99999999999999999999": "too large",
		"M": grammar, "Ki": grammar, "1X": grammar, "1 M B": grammar, "0x10": grammar,
		"5ib": grammar, "5 I": grammar, "5i": grammar, "0i": grammar, "5KK": grammar, "5 MiBs": grammar, "5 K i": grammar,
		// "Any case" is ASCII's: a letter that only Unicode upper-cases to one of the
		// grammar's (the dotless ı to I) is not one; nor are other digits or the Kelvin sign.
		"5kıb": grammar, "5Kıb": grammar, "5 KıB": grammar, "5kı": grammar, "0kıb": grammar, "5KiB": grammar, "５K": grammar, "5 K": grammar,
	} {
		for name, parse := range map[string]func(string) (int64, error){"parseSize": parseSize, "parseSizeOrZero": parseSizeOrZero} {
			if got, err := parse(in); err == nil || !strings.Contains(err.Error(), why) {
				t.Errorf("%s(%q) = %d, %v; want an error saying %q", name, in, got, err, why)
			}
		}
	}
}

// TestParseSizeASCII: no letter outside ASCII reads as a unit letter, whatever Unicode
// case mapping would make of it: each rune that upper- or lower-cases to an ASCII letter
// is refused in every place of a unit.
func TestParseSizeASCII(t *testing.T) {
	var odd []rune
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if u, l := unicode.ToUpper(r), unicode.ToLower(r); u < 0x80 || l < 0x80 || unicode.SimpleFold(r) < 0x80 {
			odd = append(odd, r)
		}
	}
	if !slices.Contains(odd, 'ı') || !slices.Contains(odd, 'K') {
		t.Fatalf("the runes case-mapped to ASCII letters: %q, want ı and the Kelvin sign among them", odd)
	}
	for _, r := range odd {
		for _, f := range []string{"5%c", "5K%c", "5K%cB", "5Ki%c", "5 %ciB", "0%c"} {
			in := fmt.Sprintf(f, r)
			if got, err := parseSizeOrZero(in); err == nil {
				t.Errorf("parseSizeOrZero(%q) = %d, want refused", in, got)
			}
		}
	}
}

// TestSizeFlags: each size flag names itself in its error, exit 2, and takes the
// spellings of the one grammar (sizeForm); --cache-max-bytes 0, in any unit a positive
// size takes, or empty, is its default; --split refuses 0.
func TestSizeFlags(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		value string
		bytes int64 // -1: refused
	}{
		{"5 MiB", 5 << 20}, {"5mib", 5 << 20}, {"2G", 2 << 30}, {"0", 0}, {"0 MiB", 0}, {"0gb", 0}, {"", 0},
		{"0Ki", 0}, {"0KiB", 0}, {"5Ki", 5 << 10}, {"5 KiB", 5 << 10},
		{"1.5G", -1}, {"1.5Gi", -1}, {"-1", -1}, {"1e3", -1}, {"99999999999T", -1}, {"5 I", -1},
	} {
		args := []string{"sync", "--release-dir", filepath.Join(dir, "no-release"), "--error-log", filepath.Join(dir, "e.log"),
			"--target", "registry", "--trg-registry", "127.0.0.1:1", "--cache-max-bytes", tc.value}
		code, out, errOut := runCLI(t, args...)
		named := strings.Contains(out+errOut, "--cache-max-bytes")
		if code != 2 || named != (tc.bytes < 0) {
			t.Errorf("--cache-max-bytes %q: exit %d, %q; want 2, naming the flag: %v", tc.value, code, out+errOut, tc.bytes < 0)
		}
		if tc.bytes < 0 && !strings.Contains(errOut, fmt.Sprintf("--cache-max-bytes %q: ", tc.value)) {
			t.Errorf("--cache-max-bytes %q: %q", tc.value, errOut)
		}
		if got := readBack(t, "--cache-max-bytes", tc.value).CacheMaxBytes; tc.bytes >= 0 && got != tc.bytes {
			t.Errorf("--cache-max-bytes %q: read as %d bytes, want %d", tc.value, got, tc.bytes)
		}
		x, err := exportArgs{to: "b.tar", split: tc.value}.check()
		switch {
		case tc.bytes < 0 || tc.bytes == 0 && tc.value != "":
			if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("--split %q: ", tc.value)) {
				t.Errorf("--split %q: %d, %v; want an error naming --split", tc.value, x, err)
			}
		case err != nil || x != tc.bytes:
			t.Errorf("--split %q: %d, %v; want %d", tc.value, x, err, tc.bytes)
		}
	}
}

// runCLI runs tmsync with args and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), append([]string{"tmsync"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// sampleArgs are a flag given on the command line with a value it parses.
func sampleArgs(f cli.Flag) []string {
	name := "--" + f.Names()[0]
	switch f.(type) {
	case *cli.BoolFlag:
		return []string{name}
	case *cli.IntFlag:
		return []string{name, "1"}
	case *cli.DurationFlag:
		return []string{name, "1m"}
	default:
		return []string{name, "x"}
	}
}

// The flags of sync that export does not read are refused, exit 2, naming the flag,
// before anything is done: none of them is ignored.
func TestExportRefusesSyncFlags(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	t.Chdir(t.TempDir()) // the refusals without --error-log write sync-error.log here
	// The walkthrough's, written out so that a change to exportFlagNames cannot let them in.
	for _, name := range []string{"dry-run", "shard-index", "shard-count", "target", "scan-wait", "sign-kms-key",
		"from-bundle", "trgprefix", "trg-registry", "fail-on-severity", "cache-dir", "skip-preflight"} {
		if exportFlagNames[name] {
			t.Errorf("export takes --%s", name)
		}
	}
	type refusal struct {
		args []string
		name string
	}
	cases := []refusal{
		{[]string{"--dry-run"}, "--dry-run"},
		{[]string{"--dry-run=false"}, "--dry-run"},
		{[]string{"-dry-run"}, "--dry-run"},
		{[]string{"--dry-run", "True"}, "--dry-run"}, // the old pipeline's spelling of a bool
		{[]string{"--shard-count", "2", "--shard-index", "1"}, "--shard-count"},
		{[]string{"--shard-index=1"}, "--shard-index"},
		{[]string{"--target", "ecr"}, "--target"},
		{[]string{"--scan-wait", "5m"}, "--scan-wait"},
		{[]string{"--sign-kms-key=alias/bank"}, "--sign-kms-key"},
		{[]string{"--from-bundle", "/b"}, "--from-bundle"},
	}
	n := 0
	for _, f := range syncFlags() {
		if !exportFlagNames[f.Names()[0]] {
			cases = append(cases, refusal{sampleArgs(f), "--" + f.Names()[0]})
			n++
		}
	}
	if n < 30 {
		t.Errorf("only %d flags of sync refused by export, want the target's, the run's and the gates' (30 or more)", n)
	}
	dir := t.TempDir()
	for i, c := range cases {
		to := filepath.Join(dir, fmt.Sprintf("b%d", i))
		errLog := filepath.Join(dir, fmt.Sprintf("err%d.log", i))
		args := append([]string{"export", "--to", to, "--error-log", errLog, "--release-dir", dir}, c.args...)
		code, stdout, stderr := runCLI(t, args...)
		if code != 2 || !strings.Contains(stderr, c.name+" is not a flag of export") {
			t.Errorf("export %q: exit %d, stderr %q; want 2 naming %s", c.args, code, stderr, c.name)
		}
		if stdout != "" {
			t.Errorf("export %q: printed %q", c.args, stdout)
		}
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("export %q: %s was written (%v)", c.args, to, err)
		}
		// The error log says it, as sync's does for a flag it refuses.
		if log, _ := os.ReadFile(errLog); !strings.Contains(string(log), c.name[1:]) { // "-name" is in flag's error
			t.Errorf("export %q: error log %q does not name %s", c.args, log, c.name)
		}
	}
	// --dry-run says what to run instead.
	if _, _, stderr := runCLI(t, "export", "--to", filepath.Join(dir, "x"), "--dry-run"); !strings.Contains(stderr, "tmsync plan") {
		t.Errorf("export --dry-run: %q, want a pointer to tmsync plan", stderr)
	}
	// A typo of an export flag still gets its suggestion.
	if code, _, stderr := runCLI(t, "export", "--relase-dir", "x"); code != 2 || !strings.Contains(stderr, "did you mean --release-dir?") {
		t.Errorf("export --relase-dir: exit %d, %q", code, stderr)
	}
}

// export --help shows export's flags, under their headings, and none of sync's others.
func TestExportHelp(t *testing.T) {
	code, help, _ := runCLI(t, "export", "--help")
	if code != 0 {
		t.Fatalf("export --help: exit %d", code)
	}
	// A flag's line: its names, at the options' indent (its usage is indented more).
	shown := map[string]bool{}
	for _, line := range regexp.MustCompile(`(?m)^   --.*$`).FindAllString(help, -1) {
		for _, name := range regexp.MustCompile(`--[A-Za-z0-9_-]+`).FindAllString(line, -1) {
			shown[name] = true
		}
	}
	for _, f := range syncFlags() {
		for _, name := range f.Names() {
			if shown["--"+name] != exportFlagNames[f.Names()[0]] {
				t.Errorf("export --help shows --%s: %v, want %v", name, shown["--"+name], exportFlagNames[f.Names()[0]])
			}
		}
	}
	for _, name := range []string{"--to", "--split", "--since", "--release-dir", "--src_attestor", "--report", "--concurrency"} {
		if !shown[name] {
			t.Errorf("export --help does not show %s", name)
		}
	}
	for _, name := range []string{"--dry-run", "--shard-index", "--shard-count", "--target", "--scan-wait", "--sign-kms-key", "--trgprefix"} {
		if shown[name] {
			t.Errorf("export --help shows %s", name)
		}
	}
	// Every flag under a heading: the first line after OPTIONS: is one, and there is no
	// target heading (export has none).
	_, opts, _ := strings.Cut(help, "OPTIONS:\n")
	first := strings.TrimSpace(strings.SplitN(strings.TrimLeft(opts, "\n"), "\n", 2)[0])
	if first != catOutput {
		t.Errorf("export --help: options begin with %q, want the heading %q", first, catOutput)
	}
	for _, cat := range []string{catSource, catOutput, catRun} {
		if !strings.Contains(help, "\n   "+cat+"\n") {
			t.Errorf("export --help has no heading %q", cat)
		}
	}
	if strings.Contains(help, catTarget) {
		t.Errorf("export --help has a target heading")
	}
}

// --split is checked when the flags are read: below one tar block, exit 2 naming it,
// nothing written, before the attestor key (the first file a run reads) is looked for.
func TestExportSplitChecked(t *testing.T) {
	t.Setenv("TM_TOKEN", "not-a-token")
	dir := t.TempDir()
	for _, split := range []string{"1", "511", "511B", "0", "-1", "0.5K", "1X", "512", "1K"} {
		to := filepath.Join(dir, "b.tar")
		errLog := filepath.Join(dir, "err.log")
		args := []string{"export", "--to", to, "--split", split, "--error-log", errLog, "--release-dir", dir}
		code, out, stderr := runCLI(t, args...)
		if split == "512" || split == "1K" {
			// A size the tar takes: the run goes on and stops at the missing attestor key.
			if code != 2 || strings.Contains(out, "--split") || !strings.Contains(out, "attestor key") {
				t.Errorf("export --split %q: exit %d, %q; want 2 at the attestor key", split, code, out+stderr)
			}
			continue
		}
		if code != 2 || !strings.Contains(out, "--split") || strings.Contains(out, "attestor") {
			t.Errorf("export --split %q: exit %d, %q; want 2 naming --split, before the attestor key", split, code, out+stderr)
		}
		for _, p := range []string{to, to + ".export.d", to + ".000"} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("export --split %q: %s was written (%v)", split, p, err)
			}
		}
	}
	for _, c := range []struct {
		x    exportArgs
		want int64
		err  string
	}{
		{exportArgs{to: "b.tar", split: "512"}, 512, ""},
		{exportArgs{to: "b.tar", split: "1M"}, 1 << 20, ""},
		{exportArgs{to: "b.tar"}, 0, ""},
		{exportArgs{to: "b"}, 0, ""},
		{exportArgs{to: "b.tar", split: "511"}, 0, "below one tar block"},
		{exportArgs{to: "b", split: "1M"}, 0, "--split needs --to FILE.tar"},
		{exportArgs{split: "1M"}, 0, "needs --to"},
	} {
		got, err := c.x.check()
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%+v.check() = %d, %v; want %d, %q", c.x, got, err, c.want, c.err)
		}
	}
}

// Export's values are checked as sync's are (checkArgs, on the flags export has): exit 2
// naming the flag and the value, before the attestor key is looked for.
func TestExportValuesChecked(t *testing.T) {
	t.Setenv("TM_TOKEN", "not-a-token")
	dir := t.TempDir()
	for _, tc := range [][2]string{
		{"--log-format=xml", `--log-format "xml": want text or json`},
		{"--concurrency=0", "--concurrency 0: want at least 1"},
		{"--retries=-1", "--retries -1: want 0 or more"},
	} {
		code, out, stderr := runCLI(t, "export", "--to", filepath.Join(dir, "b"), "--error-log", filepath.Join(dir, "err.log"),
			"--release-dir", dir, tc[0])
		if code != 2 || !strings.Contains(out+stderr, tc[1]) || strings.Contains(out+stderr, "attestor") {
			t.Errorf("export %s: exit %d, %q; want 2 saying %q, before the attestor key", tc[0], code, out+stderr, tc[1])
		}
	}
}

// Export reads the environment variables and the --config file sync does, for its own
// flags: a value from either is checked as on the command line; a --config written for
// sync (with its target's keys) is read for export's keys; an unknown key is refused
// with its file and line.
func TestExportReadsEnvAndConfig(t *testing.T) {
	t.Setenv("TM_TOKEN", "not-a-token")
	dir := t.TempDir()
	to, errLog := filepath.Join(dir, "b.tar"), filepath.Join(dir, "err.log")
	n := 0
	cfg := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.yml", n))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := []string{"export", "--to", to, "--error-log", errLog, "--release-dir", dir}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"TMSYNC_SPLIT", map[string]string{"TMSYNC_SPLIT": "100"}, nil, `--split "100"`},
		{"--config split", nil, []string{"--config", cfg("split: 100\n")}, `--split "100"`},
		{"TMSYNC_CONFIG", map[string]string{"TMSYNC_CONFIG": cfg("split: 200\n")}, nil, `--split "200"`},
		{"TMSYNC_CONCURRENCY", map[string]string{"TMSYNC_CONCURRENCY": "0"}, nil, "--concurrency 0"},
		{"sync's config", nil, []string{"--config", cfg("trgregion: eu-central-1\ntrgprefix: /3rdparty/tm/\nsplit: 1K\n")}, "attestor key"},
		{"unknown key", nil, []string{"--config", cfg("split: 1K\nnosuchkey: 1\n")}, `:2: no flag "nosuchkey"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, stderr := runCLI(t, append(append([]string{}, base...), tc.args...)...)
			if code != 2 || !strings.Contains(out+stderr, tc.want) {
				t.Errorf("exit %d, %q; want 2 saying %q", code, out+stderr, tc.want)
			}
			if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was written", to)
			}
		})
	}
}

// TestExportErrorLogOnRefusal: every refusal of export's command line (exit 2) rewrites
// the error log as sync's does, wherever the log is named (--error-log, its variable, a
// --config key, the default), so that an empty log left by an earlier good export never
// sits next to exit 2. Nothing else is written.
func TestExportErrorLogOnRefusal(t *testing.T) {
	t.Setenv("TM_TOKEN", "not-a-token")
	for _, k := range []string{"TMSYNC_ERROR_LOG", "TMSYNC_CONFIG"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badCfg, []byte("concurrency: 2\nnosuchkey: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // in the error log
	}{
		{"--config unknown key", []string{"--config", badCfg}, `bad.yaml:2: no flag "nosuchkey"`},
		{"stray argument", []string{"stray"}, `unexpected arguments`},
		{"bad value", []string{"--concurrency=0"}, "--concurrency 0"},
		{"value that does not parse", []string{"--retries", "many"}, "-retries"},
		{"unknown flag", []string{"--bogus"}, "bogus"},
		{"flag of sync only", []string{"--dry-run"}, "dry-run"},
		{"bad --log-level", []string{"--log-level", "loud"}, "--log-level"},
		{"bad --split", []string{"--split", "1.5G"}, "--split"},
	}
	check := func(t *testing.T, errLog string, args []string, want string) {
		t.Helper()
		if err := os.WriteFile(errLog, nil, 0o644); err != nil { // an earlier good run's
			t.Fatal(err)
		}
		to := filepath.Join(t.TempDir(), "b.tar")
		code, out, errOut := runCLI(t, append([]string{"export", "--to", to, "--release-dir", dir}, args...)...)
		log, _ := os.ReadFile(errLog)
		if code != 2 || !strings.Contains(string(log), want) || !strings.HasPrefix(string(log), "ERROR: ") {
			t.Errorf("export %q: exit %d, error log %q; want 2 and a log saying %q\n%s", args, code, log, want, out+errOut)
		}
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("export %q: %s was written", args, to)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errLog := filepath.Join(t.TempDir(), "err.log")
			check(t, errLog, append([]string{"--error-log", errLog}, c.args...), c.want)
			if !strings.HasPrefix(c.args[0], "stray") { // after an argument, nothing is a flag
				check(t, errLog, append(append([]string{}, c.args...), "--error-log="+errLog), c.want) // named after the bad one
			}
			t.Setenv("TMSYNC_ERROR_LOG", errLog)
			check(t, errLog, c.args, c.want)
		})
	}
	// The log named in --config (a good one), or the default in the current folder.
	t.Run("--config error-log", func(t *testing.T) {
		errLog := filepath.Join(t.TempDir(), "cfg.log")
		cfg := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(cfg, []byte("error-log: "+errLog+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases[1:] {
			check(t, errLog, append([]string{"--config", cfg}, c.args...), c.want)
		}
	})
	t.Run("default", func(t *testing.T) {
		t.Chdir(t.TempDir())
		check(t, "sync-error.log", []string{"stray"}, "unexpected arguments")
		check(t, "sync-error.log", []string{"--bogus"}, "bogus")
	})
	t.Run("blank TM_TOKEN", func(t *testing.T) {
		t.Setenv("TM_TOKEN", " ")
		errLog := filepath.Join(t.TempDir(), "err.log")
		check(t, errLog, []string{"--error-log", errLog}, "TM_TOKEN")
	})
}

// TestFromBundleAttestationFlags: with --from-bundle the attestations are the bundle's;
// an attestation bundle to read, or one to write, is refused (exit 2, the flag named)
// instead of being ignored or not written, before the bundle is even opened.
func TestFromBundleAttestationFlags(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct{ flag, want string }{
		{"--attestation-bundle", "--attestation-bundle with --from-bundle"},
		{"--save-attestation-bundle", "--save-attestation-bundle with --from-bundle: nothing would be written"},
	} {
		code, out, errOut := runCLI(t, "sync", "--target", "registry", "--trg-registry", "127.0.0.1:1",
			"--from-bundle", filepath.Join(dir, "no-such-bundle"), c.flag, filepath.Join(dir, "att.json"))
		if code != 2 || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%s: exit %d, want 2 and %q:\n%s%s", c.flag, code, c.want, out, errOut)
		}
		if log, err := os.ReadFile(filepath.Join(dir, "sync-error.log")); err != nil || !strings.Contains(string(log), c.want) {
			t.Errorf("%s: error log %q %v", c.flag, log, err)
		}
	}
}
