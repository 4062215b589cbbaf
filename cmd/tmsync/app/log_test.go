package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

// TestLogFlagValues: --log-level and --log-format are checked when the flags are read
// (exit 2 before anything is made, the error on stderr naming the flag and the values it
// takes), in any case and with white space around; the logger takes what the check
// passed, and nothing else.
func TestLogFlagValues(t *testing.T) {
	t.Setenv("TM_TOKEN", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		flag, value string
		ok          bool
	}{
		{"--log-level", "debug", true},
		{"--log-level", "Debug", true},
		{"--log-level", " info", true},
		{"--log-level", "INFO\n", true},
		{"--log-level", "warn", true},
		{"--log-level", "warning", true},
		{"--log-level", "WARNING", true},
		{"--log-level", "error", true},
		{"--log-level", "loud", false},
		{"--log-level", "info+2", false}, // slog's offsets: not documented, not taken
		{"--log-level", "warnings", false},
		{"--log-level", "0", false},
		{"--log-format", "JSON", true},
		{"--log-format", " text ", true},
		{"--log-format", "Text", true},
		{"--log-format", "xml", false},
		{"--log-format", "logfmt", false},
	} {
		for _, cmd := range []string{"sync", "export"} {
			errLog, report := filepath.Join(dir, "err.log"), filepath.Join(dir, "report.json")
			os.Remove(report)
			args := []string{cmd, "--release-dir", filepath.Join(dir, "no-release"), "--error-log", errLog, "--report", report,
				tc.flag, tc.value}
			if cmd == "sync" {
				args = append(args, "--target", "registry", "--trg-registry", "127.0.0.1:1")
			} else {
				args = append(args, "--to", filepath.Join(dir, "b"))
			}
			if tc.flag == "--log-format" {
				args = append(args, "--log-level", "error")
			}
			code, out, errOut := runCLI(t, args...)
			named := strings.Contains(out+errOut, tc.flag+" ")
			if tc.ok {
				// Past the flags: stopped further on (no release, no key, no token).
				if code != 2 || named {
					t.Errorf("%s %s %q: exit %d, %q; want it taken", cmd, tc.flag, tc.value, code, out+errOut)
				}
				continue
			}
			want := `want debug, info, warn (or warning) or error`
			if tc.flag == "--log-format" {
				want = "want text or json"
			}
			if code != 2 || !strings.Contains(errOut, tc.flag+" ") || !strings.Contains(errOut, want) || strings.Contains(out+errOut, "no-release") {
				t.Errorf("%s %s %q: exit %d\nstdout %s\nstderr %s\nwant 2, stderr naming %s and %q, before the release is read",
					cmd, tc.flag, tc.value, code, out, errOut, tc.flag, want)
			}
			if log, _ := os.ReadFile(errLog); !strings.Contains(string(log), tc.flag) {
				t.Errorf("%s %s %q: error log %q", cmd, tc.flag, tc.value, log)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("%s %s %q: a report was written", cmd, tc.flag, tc.value)
			}
		}
	}
	// The logger reads the values as the check does: "JSON" logs JSON, "Warning" from warn.
	var buf bytes.Buffer
	logger, err := newLogger(" Warning ", "JSON", &buf, tmsync.NewRedactor())
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("not shown")
	logger.Warn("shown")
	if got := buf.String(); !strings.HasPrefix(got, `{"time"`) || !strings.Contains(got, `"msg":"shown"`) || strings.Contains(got, "not shown") {
		t.Errorf("logger wrote %q", got)
	}
	logrusTo.Store(nil) // containers/image's records back to nowhere
}
