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

	// The flags plan and verify take from sync without using them say so in their help.
	_, verifyHelp, _ := runCLI(t, "verify", "--help")
	_, planHelp, _ := runCLI(t, "plan", "--help")
	for _, c := range []struct{ help, flag, want string }{
		{planHelp, "--scan-wait", "plan: taken, not used (plan reads no scan)"},
		{planHelp, "--dry-run", "plan: taken, not used (plan changes nothing)"},
		{verifyHelp, "--dry-run", "verify: taken, not used (verify copies and provisions nothing"},
	} {
		if i := strings.Index(c.help, "\n   "+c.flag); i < 0 || !strings.Contains(strings.Join(strings.Fields(c.help[i:min(len(c.help), i+600)]), " "), c.want) {
			t.Errorf("%s's help lacks %q", c.flag, c.want)
		}
	}
}
