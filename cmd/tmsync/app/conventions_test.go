package app

import (
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

func TestJoinBoolValues(t *testing.T) {
	bools := map[string]bool{"trg_dst_security_scan_enabled": true, "prune-tags": true}
	for _, c := range []struct{ in, want string }{
		{"sync --trg_dst_security_scan_enabled True --x 1", "sync --trg_dst_security_scan_enabled=true --x 1"},
		{"sync --trg_dst_security_scan_enabled FALSE", "sync --trg_dst_security_scan_enabled=false"},
		{"sync --trg_dst_security_scan_enabled=True", "sync --trg_dst_security_scan_enabled=true"},
		{"sync -trg_dst_security_scan_enabled no", "sync -trg_dst_security_scan_enabled=false"},
		{"sync --prune-tags --release-dir True", "sync --prune-tags --release-dir True"},             // the word is another flag's value
		{"sync --release-dir True --prune-tags", "sync --release-dir True --prune-tags"},             // not a bool flag
		{"copy -- --prune-tags true", "copy -- --prune-tags true"},                                   // after --, arguments
		{"sync --trg_dst_security_scan_enabled maybe", "sync --trg_dst_security_scan_enabled maybe"}, // not a bool word: left to fail
	} {
		got := joinBoolValues(strings.Fields(c.in), bools)
		if !reflect.DeepEqual(got, strings.Fields(c.want)) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"concurrency", "trg_kms_key_alias", "release-dir", "report"}
	for typed, want := range map[string]string{"concurency": "concurrency", "trg-kms-key-alias": "trg_kms_key_alias",
		"releasedir": "release-dir", "reprot": "report", "zzzzzzzz": "", "x": ""} {
		if got := suggest(typed, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", typed, got, want)
		}
	}
}

func TestLayoutHelpFits(t *testing.T) {
	long := "   --flag value  " + strings.Repeat("word ", 40) + "(default: \"https://" + strings.Repeat("x", 150) + "\")"
	for _, l := range strings.Split(layoutHelp(long+"\n   plain "+strings.Repeat("y ", 80)), "\n") {
		if len(l) > helpWidth {
			t.Errorf("%d columns: %q", len(l), l)
		}
	}
}

// TestHelpListsEveryFlag: every command's --help (subcommands too, at any depth) lists
// exactly the flags it takes, aliases included: none hidden (plan and verify take sync's
// flags, and show them), none shown that it does not take.
func TestHelpListsEveryFlag(t *testing.T) {
	shownFlag := regexp.MustCompile(`^ {1,4}-`)
	flagName := regexp.MustCompile(`(?:^|, )--?([A-Za-z0-9][A-Za-z0-9_.-]*)`)
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Name == "help" {
				continue
			}
			p := append(append([]string{}, path...), cmd.Name)
			takes := map[string]bool{"help": true, "h": true} // urfave/cli's own --help, -h
			for _, f := range cmd.Flags {
				for _, n := range f.Names() {
					takes[n] = true
				}
				if v := flagField(f, "Hidden"); v.IsValid() && v.Bool() {
					t.Errorf("%v: --%s is hidden", p, f.Names()[0])
				}
			}
			code, out, _ := runCLI(t, append(p, "--help")...)
			if code != 0 {
				t.Errorf("%v --help: exit %d", p, code)
			}
			shown := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				if shownFlag.MatchString(line) {
					for _, m := range flagName.FindAllStringSubmatch(strings.TrimSpace(line), -1) {
						shown[m[1]] = true
					}
				}
			}
			for n := range takes {
				if !shown[n] {
					t.Errorf("%v --help does not list --%s, which it takes", p, n)
				}
			}
			for n := range shown {
				if !takes[n] {
					t.Errorf("%v --help lists --%s, which it does not take", p, n)
				}
			}
			walk(p, cmd.Subcommands)
		}
	}
	app := newApp(io.Discard, io.Discard, &cmdline{red: tmsync.NewRedactor(), stderr: io.Discard})
	walk(nil, app.Commands)
	if _, out, _ := runCLI(t, "--help"); !regexp.MustCompile(`(?m)^ +--help, -h$`).MatchString(out) || !regexp.MustCompile(`(?m)^ +--version, -v$`).MatchString(out) {
		t.Errorf("tmsync --help does not list --help and --version:\n%s", out)
	}

	// The flags plan and verify take from sync without using them say so in their help,
	// and whether their values are checked all the same.
	_, verifyHelp, _ := runCLI(t, "verify", "--help")
	_, planHelp, _ := runCLI(t, "plan", "--help")
	const checked = ", but its value is checked as sync checks it"
	flagHelp := func(help, flag string) string {
		i := strings.Index(help, "\n   "+flag+"\n")
		if i < 0 {
			i = strings.Index(help, "\n   "+flag+" ")
		}
		if i < 0 {
			return ""
		}
		help = help[i+1:]
		if j := strings.Index(help, "\n   --"); j >= 0 {
			help = help[:j]
		}
		return strings.Join(strings.Fields(help), " ")
	}
	for _, c := range []struct{ help, flag, want string }{
		{planHelp, "--scan-wait", "plan: taken, not used (plan reads no scan)" + checked},
		{planHelp, "--fail-on-severity", "plan: taken, not used (plan reads no scan)" + checked},
		{planHelp, "--dry-run", "plan: taken, not used (plan changes nothing)"},
		{planHelp, "--cache-dir", "plan: taken, not used (plan keeps no blob store"},
		{planHelp, "--cache-max-bytes", "plan: taken, not used (plan keeps no blob store: it reads the images' manifests only)" + checked},
		{planHelp, "--copy-referrers", "plan: taken, not used (plan copies nothing)"},
		{planHelp, "--enable-blob-mounting", "plan: taken, not used (plan changes no account setting"},
		{planHelp, "--throttle_ecr_creation_ms", "plan: taken, not used (plan changes no repository)" + checked},
		{verifyHelp, "--dry-run", "verify: taken, not used (verify copies and provisions nothing"},
		{verifyHelp, "--cache-dir", "verify: taken, not used (verify pulls no image)"},
		{verifyHelp, "--cache-max-bytes", "verify: taken, not used (verify pulls no image)" + checked},
		{verifyHelp, "--copy-referrers", "verify: taken, not used (verify copies nothing)"},
		{verifyHelp, "--enable-blob-mounting", "verify: taken, not used (verify changes no account setting)"},
		{verifyHelp, "--throttle_ecr_creation_ms", "verify: taken, not used (verify changes no repository)" + checked},
		{verifyHelp, "--detailed-exitcode", "verify: taken, not used (verify has no changes to report)"},
	} {
		if got := flagHelp(c.help, c.flag); !strings.Contains(got, c.want) {
			t.Errorf("%s's help lacks %q:\n%s", c.flag, c.want, got)
		}
	}
	// Every flag marked so, and only those: what verify and plan use is not marked (verify
	// waits for the scans, checks the tags --prune-tags would remove).
	for mode, help := range map[tmsync.Mode]string{tmsync.ModePlan: planHelp, tmsync.ModeVerify: verifyHelp} {
		for _, f := range syncFlags() {
			name := f.Names()[0]
			got := flagHelp(help, "--"+name)
			if why, unused := unusedIn[mode][name]; unused != strings.Contains(got, string(mode)+": taken, not used ("+why+")") ||
				(unused && checkedUnused[name]) != strings.Contains(got, checked) {
				t.Errorf("%s --%s: help %q; unused %v, checked %v", mode, name, got, unused, checkedUnused[name])
			}
		}
	}
	for _, name := range []string{"scan-wait", "fail-on-severity", "prune-tags", "idle-timeout"} {
		if strings.Contains(flagHelp(verifyHelp, "--"+name), "not used") {
			t.Errorf("verify --%s said not used: verify uses it", name)
		}
	}
}

// TestUnusedFlagsChecked: the flags plan and verify take without using them whose help says
// their values are checked as sync checks them are: a value sync refuses stops a plan or
// a verify too (exit 2, the flag named), before any network.
func TestUnusedFlagsChecked(t *testing.T) {
	inputBed(t)
	for _, mode := range []string{"plan", "verify"} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--fail-on-severity", "HIGH"}, "--fail-on-severity needs --scan-wait"},
			{[]string{"--fail-on-severity", "LOUD", "--scan-wait", "1m"}, `--fail-on-severity "LOUD"`},
			{[]string{"--target", "registry", "--trg-registry", "127.0.0.1:1", "--scan-wait", "1m"}, "--scan-wait needs --target ecr"},
			{[]string{"--scan-wait", "-1m"}, "--scan-wait -1m0s: want 0 or more"},
			{[]string{"--cache-max-bytes", "1.5G"}, `--cache-max-bytes "1.5G"`},
			{[]string{"--throttle_ecr_creation_ms", "-1"}, "--throttle_ecr_creation_ms -1"},
		} {
			args := append([]string{mode, "--release-dir", "rel", "--skip-preflight", "--error-log", "logs/e.log"}, c.args...)
			code, out, errOut := runCLI(t, args...)
			if code != 2 || !strings.Contains(errOut+out, c.want) {
				t.Errorf("%q: exit %d, want 2 and %q:\n%s", args, code, c.want, out+errOut)
			}
		}
	}
}
