package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestBlankEnvironmentIsUnset: a flag's environment variable set to "" or to white space
// (CodeBuild and Terraform define variables so) counts as unset: the --config file's
// value is used (a KMS key in it is not dropped for AES256), for strings, booleans,
// durations and an old pipeline variable (ECR_KMS_ARN) alike; a blank TMSYNC_CONFIG names
// no file. A variable with a value still wins over the file, and a flag given "" on the
// command line still counts. The variables are as they were after the run.
func TestBlankEnvironmentIsUnset(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := filepath.Join(dir, "tmsync.yaml")
	must(t, os.WriteFile(cfg, []byte("trg_kms_key_alias: alias/from-config\nreport: from-config.json\nskip-preflight: true\nheartbeat: 45s\ntrgregion: eu-west-2\n"), 0o644))
	vars := []string{"ECR_KMS_ARN", "TMSYNC_REPORT", "TMSYNC_SKIP_PREFLIGHT", "TMSYNC_HEARTBEAT", "AWS_REGION"}
	fromConfig := map[string]string{"trg_kms_key_alias": "alias/from-config", "report": "from-config.json",
		"skip-preflight": "true", "heartbeat": "45s", "trgregion": "eu-west-2"}
	show := func(t *testing.T, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := Run(context.Background(), append([]string{"tmsync", "config", "show"}, args...), &out, &errOut); code != 0 {
			t.Fatalf("config show %q: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
		return out.String()
	}
	line := func(key, value, from string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key+":") + `\s+` + regexp.QuoteMeta(value) + `\s+# ` + from + `$`)
	}
	for name, blank := range map[string]string{"empty": "", "space": " ", "tab and newline": "\t\n"} {
		t.Run(name, func(t *testing.T) {
			for _, k := range vars {
				t.Setenv(k, blank)
			}
			out := show(t, "--config", cfg)
			for key, v := range fromConfig {
				if !line(key, v, "config").MatchString(out) {
					t.Errorf("%s: want %s from the config file:\n%s", key, v, out)
				}
			}
			for _, k := range vars {
				if v, ok := os.LookupEnv(k); !ok || v != blank {
					t.Errorf("after the run %s = %q (set %v), want %q as before", k, v, ok, blank)
				}
			}
			// TMSYNC_CONFIG blank: no file to read, not a file named " ".
			t.Setenv("TMSYNC_CONFIG", blank)
			if out := show(t); !line("# trg_kms_key_alias", `""`, "default").MatchString(out) {
				t.Errorf("blank TMSYNC_CONFIG:\n%s", out)
			}
		})
	}
	t.Run("set", func(t *testing.T) {
		t.Setenv("ECR_KMS_ARN", "alias/from-env")
		t.Setenv("TMSYNC_REPORT", "from-env.json")
		t.Setenv("TMSYNC_SKIP_PREFLIGHT", "false")
		out := show(t, "--config", cfg)
		for key, v := range map[string]string{"trg_kms_key_alias": "alias/from-env", "report": "from-env.json", "skip-preflight": "false"} {
			if !line(key, v, "flag or environment").MatchString(out) {
				t.Errorf("%s: want %s from the environment:\n%s", key, v, out)
			}
		}
	})
	t.Run("flag given empty", func(t *testing.T) {
		t.Setenv("ECR_KMS_ARN", "")
		out := show(t, "--config", cfg, "--trg_kms_key_alias", "", "--report=")
		for _, key := range []string{"trg_kms_key_alias", "report"} {
			if !line(key, `""`, "flag or environment").MatchString(out) {
				t.Errorf("%s given \"\" on the command line: want it empty:\n%s", key, out)
			}
		}
	})
}
