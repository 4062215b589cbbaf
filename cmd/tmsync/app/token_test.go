package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArgsNeverPrintTheToken(t *testing.T) {
	a := Args{SrcUser: "_tm", SrcPassword: "tok-9f8e7d", SrcDomain: "vendor.example"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("args", "args", a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a), logged.String()} {
		if strings.Contains(s, "tok-9f8e7d") {
			t.Fatalf("token printed: %s", s)
		}
		if !strings.Contains(s, "vendor.example") {
			t.Fatalf("args not printed: %s", s)
		}
	}
}

func TestParseTokenSecret(t *testing.T) {
	if tok, err := parseTokenSecret("s", `{"TM_TOKEN":" abc "}`); err != nil || tok != "abc" {
		t.Fatalf("got %q %v", tok, err)
	}
	for _, bad := range []string{`abc-secret-value`, `{"token":"abc-secret-value"}`, `{"TM_TOKEN":""}`, `{"TM_TOKEN":1}`} {
		_, err := parseTokenSecret("s", bad)
		if err == nil || strings.Contains(err.Error(), "abc-secret-value") {
			t.Errorf("%s: err %v (want an error that does not quote the secret)", bad, err)
		}
	}
}

// TestECRRegistrySpellings: copy logs in to ECR whatever the spelling of its host, and
// to nothing that only looks like it.
func TestECRRegistrySpellings(t *testing.T) {
	const canon = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
	for _, h := range []string{canon, "123456789012.DKR.ECR.EU-WEST-2.AMAZONAWS.COM", canon + ":443", canon + ".", canon + ".:443"} {
		if got, region, ok := ecrRegistry(h); !ok || got != canon || region != "eu-west-2" {
			t.Errorf("%s: %q %q %v, want %s in eu-west-2", h, got, region, ok, canon)
		}
	}
	if _, region, ok := ecrRegistry("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"); !ok || region != "us-east-1" {
		t.Errorf("FIPS endpoint: %q %v", region, ok)
	}
	for _, h := range []string{canon + ":5000", "12345678901.dkr.ecr.eu-west-2.amazonaws.com", "123456789012.dkr.ecr.eu-west-2.amazonaws.com.evil.example",
		"evil.example", "123456789012.dkr.ecr.eu-west-2.amazonaws.com@evil.example", ""} {
		if _, _, ok := ecrRegistry(h); ok {
			t.Errorf("%q taken for ECR", h)
		}
	}
}

// TestBlankTokenOneRule: config show and a run refuse a blank TM_TOKEN alike, when the run
// would use it: not with --from-bundle (no vendor) or --srcpasswd, however those are
// given (flag, TMSYNC_ variable, --config key), and whatever the order of the flags.
func TestBlankTokenOneRule(t *testing.T) {
	t.Setenv("TM_TOKEN", " \n")
	for _, k := range []string{"TMSYNC_ERROR_LOG", "TMSYNC_FROM_BUNDLE", "TMSYNC_CONFIG"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)  // set, even empty, it would win over --config
	}
	dir := t.TempDir()
	bundleDir := filepath.Join(dir, "no-such-bundle")
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("from-bundle: "+bundleDir+"\nconcurrency: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyCfg := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(emptyCfg, []byte("concurrency: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const blank = "TM_TOKEN is set but blank"
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string // after the command's name
		using bool     // the run would use TM_TOKEN: refused
	}{
		{"no bundle", nil, nil, true},
		{"--from-bundle", nil, []string{"--from-bundle", bundleDir}, false},
		{"--from-bundle=, last", nil, []string{"--concurrency", "2", "--from-bundle=" + bundleDir}, false},
		{"TMSYNC_FROM_BUNDLE", map[string]string{"TMSYNC_FROM_BUNDLE": bundleDir}, nil, false},
		{"--config from-bundle", nil, []string{"--config", cfg}, false},
		{"TMSYNC_CONFIG from-bundle", map[string]string{"TMSYNC_CONFIG": cfg}, nil, false},
		{"--config without it", nil, []string{"--config", emptyCfg}, true},
		{"--from-bundle empty", nil, []string{"--from-bundle="}, true},
		{"--srcpasswd", nil, []string{"--srcpasswd", "tok-flag-7731"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			errorLog := filepath.Join(t.TempDir(), "e.log")
			common := []string{"--error-log", errorLog, "--target", "registry", "--trg-registry", "127.0.0.1:1",
				"--release-dir", filepath.Join(dir, "no-release"), "--src_attestor", filepath.Join(dir, "no-key.pgp")}
			for _, cmd := range [][]string{{"config", "show"}, {"sync"}, {"plan"}} {
				args := append(append(append([]string{}, cmd...), common...), tc.args...)
				code, out, errOut := runCLI(t, args...)
				refused := strings.Contains(errOut, "ERROR: "+blank)
				if refused != tc.using || (tc.using && code != 2) {
					t.Errorf("%s: exit %d, refused %v, want refused %v\nstdout %s\nstderr %s", cmd[0], code, refused, tc.using, out, errOut)
				}
				if cmd[0] == "config" {
					if !tc.using && code != 0 {
						t.Errorf("config show: exit %d, want 0: %s", code, errOut)
					}
					if !strings.Contains(out, "concurrency:") {
						t.Errorf("config show printed no settings: %s", out)
					}
				}
				if cmd[0] != "config" && !tc.using && code != 2 {
					// Not refused for the token: stopped by the missing key or bundle, exit 2.
					t.Errorf("%s: exit %d, want 2 at the missing release, key or bundle", cmd[0], code)
				}
				if strings.Contains(out+errOut, "tok-flag-7731") {
					t.Errorf("%s: the --srcpasswd token was printed", cmd[0])
				}
			}
		})
	}
}
