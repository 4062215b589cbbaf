package app

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCopyChecksAsSync: copy checks the values of the flags it shares with sync with
// sync's own checks (checkArgs), so the two cannot drift: for the same values, copy's
// ERROR lines are config show's, every bad flag said at once, exit 2, before any registry
// is asked (the references are good, the registries do not exist). Good values pass the
// checks.
func TestCopyChecksAsSync(t *testing.T) {
	t.Setenv("TM_TOKEN", "tok-copy-checks-5c2e")
	refs := []string{"127.0.0.1:1/x@sha256:" + strings.Repeat("0", 64), "127.0.0.1:1/y:1"}
	errLines := func(s string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`(?m)^ERROR: (?:copy: )?(.*)$`).FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	for _, bad := range [][]string{
		{"--byo-policy", "none"},
		{"--src-attestor-fingerprint", "783B9D965E3A6CC6"},
		{"--src-attestor-fingerprint", "0123456789ABCDEF0123456789ABCDEF01234567,"},
		{"--src_attestions_address", "http://attestations.example/occ"},
		{"--src_attestions_address", "ftp://attestations.example/occ"},
		{"--byo-policy", "none", "--src-attestor-fingerprint", "783B9D965E3A6CC6", "--src_attestions_address", "http://10.0.0.1/occ"},
	} {
		code, out, errOut := runCLI(t, append(append([]string{"copy"}, bad...), refs...)...)
		_, _, shown := runCLI(t, append([]string{"config", "show"}, bad...)...)
		got, want := errLines(out+errOut), errLines(shown)
		if code != 2 || len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("copy %v: exit %d, errors\n%q\nwant 2 and sync's (config show's)\n%q", bad, code, got, want)
		}
	}
	for _, good := range [][]string{
		{"--byo-policy", "Attested"}, {"--byo-policy", " pinned "},
		{"--src-attestor-fingerprint", "0123 4567 89ab cdef 0123 4567 89AB CDEF 0123 4567"},
		{"--src_attestions_address", "http://127.0.0.1:1/occ"},
		// Not asked with an attestation bundle: its address is not checked, as in sync.
		{"--src_attestions_address", "http://attestations.example/occ", "--attestation-bundle", "b.json"},
	} {
		code, out, errOut := runCLI(t, append(append([]string{"copy", "--insecure-registry", "127.0.0.1:1"}, good...), refs...)...)
		// Past the checks: the copy itself fails (no registry, or no attestor key for
		// attested), not a flag.
		if code == 0 || strings.Contains(out+errOut, "ERROR: copy: ") || !strings.Contains(out+errOut, "ERROR: copy 127.0.0.1:1/x@") {
			t.Errorf("copy %v: exit %d, want the flags taken and the copy to fail past them:\n%s%s", good, code, out, errOut)
		}
	}
}
