package app

import (
	"reflect"
	"strings"
	"testing"
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
