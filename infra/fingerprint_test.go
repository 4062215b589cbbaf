package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest"
)

// fingerprintRoot is a Terraform root of the real src_attestor_fingerprints variable
// (variables.tf's block, its checks included) and an output of what main.tf passes to the
// builds as TMSYNC_SRC_ATTESTOR_FINGERPRINT (main.tf's expression), both cut from the
// files as they are.
func fingerprintRoot(t *testing.T) string {
	t.Helper()
	vars, err := os.ReadFile("variables.tf")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(vars), `variable "src_attestor_fingerprints" {`)
	if start < 0 {
		t.Fatal(`variables.tf: no variable "src_attestor_fingerprints"`)
	}
	end := strings.Index(string(vars[start:]), "\n}\n") // terraform fmt puts the block's end alone on its line
	if end < 0 {
		t.Fatal("variables.tf: the src_attestor_fingerprints block does not end")
	}
	block := string(vars[start : start+end+3])
	main, err := os.ReadFile("main.tf")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*TMSYNC_SRC_ATTESTOR_FINGERPRINT\s*=\s*(.+)$`).FindAllSubmatch(main, -1)
	if len(m) != 1 {
		t.Fatalf("main.tf: %d TMSYNC_SRC_ATTESTOR_FINGERPRINT settings, want one", len(m))
	}
	dir := t.TempDir()
	root := block + "\noutput \"pin\" {\n  value = " + string(m[0][1]) + "\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(root), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fingerprintSpelling is one way to write a fingerprint, and its normal form ("" when
// tmsync refuses it).
type fingerprintSpelling struct{ spelling, want string }

func fingerprintSpellings() []fingerprintSpelling {
	const fpr40 = "0123456789ABCDEF0123456789ABCDEF01234567"
	fpr64 := strings.Repeat("89ABCDEF", 8)
	gpg := "0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567" // as gpg prints it
	lower := strings.ToLower(fpr40)
	spaced := func(sep string) string { return strings.ReplaceAll(gpg, " ", sep) }
	return []fingerprintSpelling{
		{fpr40, fpr40},
		{lower, fpr40},
		{"0123456789abcdef0123456789ABCDEF01234567", fpr40},
		{gpg, fpr40},
		{strings.ToLower(gpg), fpr40},
		{"  " + fpr40 + " ", fpr40},
		{fpr40 + "\n", fpr40}, // pasted with its line end
		{fpr40 + "\r\n", fpr40},
		{spaced("\t"), fpr40},
		{spaced("\v"), fpr40},
		{spaced("\f"), fpr40},
		{spaced("\u00a0"), fpr40}, // copied from a web page
		{spaced("\u0085"), fpr40},
		{spaced("\u1680"), fpr40},
		{spaced("\u2000"), fpr40},
		{spaced("\u2009"), fpr40},
		{spaced("\u2028"), fpr40},
		{spaced("\u202f"), fpr40},
		{spaced("\u3000"), fpr40},
		{"0x" + fpr40, fpr40},
		{"0X" + lower, fpr40},
		{" 0x " + gpg, fpr40},
		{"openpgp4fpr:" + lower, fpr40}, // Grafeas' publicKeyId form
		{"OPENPGP4FPR:" + fpr40, fpr40},
		{"OpenPGP4fpr:0x" + fpr40, fpr40},
		{"open pgp4fpr :" + fpr40, fpr40}, // white space is dropped first, wherever it is
		{fpr64, fpr64},
		{"0x" + strings.ToLower(fpr64), fpr64},

		{"", ""},
		{"   ", ""},
		{"\u00a0\t", ""},
		{fpr40[:16], ""},        // a key id
		{fpr40[:8], ""},         // a short key id
		{"0x" + fpr40[:16], ""}, // a key id as gpg --keyid-format 0xlong prints it
		{fpr40[:39], ""},
		{fpr40 + "0", ""},
		{fpr64[:63], ""},
		{fpr64 + "0", ""},
		{fpr40[:39] + "G", ""},
		{strings.Repeat("g", 40), ""},
		{"0x0x" + fpr40, ""},           // one prefix of each kind,
		{"0xopenpgp4fpr:" + fpr40, ""}, // in that order
		{"openpgp4fpr:openpgp4fpr:" + fpr40, ""},
		{"0x", ""},
		{"openpgp4fpr:", ""},
		{fpr40[:20] + "\u200b" + fpr40[20:], ""}, // a zero-width space is not white space,
		{"\ufeff" + fpr40, ""},                   // nor a byte order mark,
		{fpr40[:20] + "\u00ad" + fpr40[20:], ""}, // nor a soft hyphen
		{fpr40[:20] + "-" + fpr40[20:], ""},
		{fpr40 + ",", ""},
		{fpr40 + "," + fpr40, ""},  // two in one: the builds' list is comma-separated
		{"\uff10" + fpr40[1:], ""}, // a full-width digit
		{"0x" + fpr40 + "h", ""},
	}
}

// TestFingerprintSpellings: Terraform's src_attestor_fingerprints takes exactly the
// spellings of a fingerprint that tmsync's --src-attestor-fingerprint takes
// (attest.CheckFingerprint): white space of any kind and case ignored, a 0x or openpgp4fpr:
// prefix, 40 or 64 hex digits; and passes each to the builds in a normal form that tmsync
// takes, of the same key. No provider, no AWS: the variable's checks and main.tf's
// expression, applied in a root of their own.
func TestFingerprintSpellings(t *testing.T) {
	t.Parallel()
	table := fingerprintSpellings()
	for _, tc := range table {
		if takes := attest.CheckFingerprint(tc.spelling) == nil; takes != (tc.want != "") {
			t.Errorf("%q: tmsync takes it: %v; the table says %v", tc.spelling, takes, tc.want != "")
		}
	}
	bin := terraformBin(t)
	dir := fingerprintRoot(t)
	// No provider to find: an empty CLI configuration (a missing one is warned of, in the
	// output that is read here).
	cfg := filepath.Join(t.TempDir(), "terraform.tfrc")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &tf{bin: bin, env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")}
	f.must(t, dir, 2*time.Minute, "init", "-backend=false", "-input=false", "-no-color")
	varFile := func(list ...string) string {
		b, err := json.Marshal(map[string][]string{"src_attestor_fingerprints": list})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "fingerprints.tfvars.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return "-var-file=" + p
	}

	// Those tmsync takes, all at once: taken, and passed on in tmsync's normal form.
	var taken, want []string
	for _, tc := range table {
		if tc.want != "" {
			taken, want = append(taken, tc.spelling), append(want, tc.want)
		}
	}
	if out, code := f.run(t, dir, 2*time.Minute, "apply", "-auto-approve", "-input=false", "-no-color", varFile(taken...)); code != 0 {
		// Say which.
		for _, s := range taken {
			if _, code := f.run(t, dir, 2*time.Minute, "plan", "-input=false", "-no-color", varFile(s)); code != 0 {
				t.Errorf("%q: tmsync takes it, Terraform refuses it", s)
			}
		}
		t.Fatalf("apply with the spellings tmsync takes: exit %d\n%s", code, out)
	}
	var pin string
	if err := json.Unmarshal([]byte(f.must(t, dir, time.Minute, "output", "-json", "pin")), &pin); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(pin, ",")
	if len(got) != len(want) {
		t.Fatalf("TMSYNC_SRC_ATTESTOR_FINGERPRINT %q: %d fingerprints, want %d", pin, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] || attest.CheckFingerprint(got[i]) != nil {
			t.Errorf("%q: passed to the builds as %q, want %q", taken[i], got[i], want[i])
		}
	}

	// Those tmsync refuses, one by one: each stops the plan, with the reason.
	for _, tc := range table {
		if tc.want != "" {
			continue
		}
		out, code := f.run(t, dir, 2*time.Minute, "plan", "-input=false", "-no-color", varFile(tc.spelling))
		if code == 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "each must be a key fingerprint of 40 hex digits") {
			t.Errorf("%q: tmsync refuses it; terraform plan: exit %d\n%s", tc.spelling, code, out)
		}
	}
}
