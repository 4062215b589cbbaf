package app

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

func TestTakeSecretEnvTrims(t *testing.T) {
	for _, c := range []struct {
		env, token string
		blank      bool
	}{
		{"tok-1234", "tok-1234", false}, {"tok-1234\n", "tok-1234", false}, {"tok-1234\r\n", "tok-1234", false},
		{"  tok-1234 \t", "tok-1234", false}, {"", "", false}, {" ", "", true}, {"\r\n", "", true},
	} {
		t.Setenv("TM_TOKEN", c.env)
		token, blank, restore := takeSecretEnv()
		if token != c.token || blank != c.blank {
			t.Errorf("TM_TOKEN=%q: %q blank %v, want %q %v", c.env, token, blank, c.token, c.blank)
		}
		if v, ok := os.LookupEnv("TM_TOKEN"); ok {
			t.Errorf("TM_TOKEN=%q left in the environment: %q", c.env, v)
		}
		restore()
	}
}

func TestRefCredentials(t *testing.T) {
	d := "@sha256:" + strings.Repeat("a", 64)
	for _, c := range []struct{ ref, userinfo, masked string }{
		{"_tm:s3cret@host/repo" + d, "_tm:s3cret", "_tm:[REDACTED]@host/repo" + d},
		{"docker://_tm:s3cret@host:5000/a/b:1", "_tm:s3cret", "docker://_tm:[REDACTED]@host:5000/a/b:1"},
		{"_tm:ab/cd@ef@host/repo:1", "_tm:ab/cd@ef", "_tm:[REDACTED]@host/repo:1"},
		{"tokenonly@host/repo", "tokenonly", "[REDACTED]@host/repo"},
		{"host/repo" + d, "", "host/repo" + d},
		{"host/repo:1" + d, "", "host/repo:1" + d},
		{"robot@corp.example", "", "robot@corp.example"},
		{"--flag=a@b/c", "", "--flag=a@b/c"},
		{"user:hunter2pw@ubuntu", "user:hunter2pw", "user:[REDACTED]@ubuntu"},
		{"u:pw@reg:5000", "u:pw", "u:[REDACTED]@reg:5000"},
		{"u:pw@ubuntu" + d, "u:pw", "u:[REDACTED]@ubuntu" + d},
		{" --srcpasswd=x@y/z", "", " --srcpasswd=x@y/z"},
	} {
		ui, ok := refUserinfo(c.ref)
		if ui != c.userinfo || ok != (c.userinfo != "") {
			t.Errorf("refUserinfo(%q) = %q %v, want %q", c.ref, ui, ok, c.userinfo)
		}
		if got := maskRef(c.ref); got != c.masked {
			t.Errorf("maskRef(%q) = %q, want %q", c.ref, got, c.masked)
		}
	}
}

func TestArgSecrets(t *testing.T) {
	got := argSecrets([]string{"tmsync", "sync", "--srcpasswd", "p1-xxxx", "-srcpasswd=p2-yyyy\n", "--srcpasswd-not", "zz",
		"_tm:p3-zzzz@h/r", " --srcpasswd=p4-wwww", "u:p5-vvvv@reg:5000", "--", "--srcpasswd"})
	for _, want := range []string{"p1-xxxx", "p2-yyyy", "p2-yyyy\n", "_tm:p3-zzzz", "p3-zzzz", "p4-wwww", "p5-vvvv"} {
		if !slices.Contains(got, want) {
			t.Errorf("argSecrets lacks %q: %q", want, got)
		}
	}
	if slices.Contains(got, "zz") {
		t.Errorf("argSecrets took another flag's value: %q", got)
	}
}

func TestErrorLogFromArgs(t *testing.T) {
	for _, k := range []string{"TMSYNC_ERROR_LOG", "TMSYNC_CONFIG"} {
		t.Setenv(k, "")
		os.Unsetenv(k) // as Run has it (unsetBlankFlagEnv)
	}
	takes := valueFlagNames(newApp(io.Discard, io.Discard, &cmdline{red: tmsync.NewRedactor()}).Commands)
	if !takes["report"] || !takes["srcpasswd"] || takes["dry-run"] {
		t.Fatalf("valueFlagNames: report %v, srcpasswd %v, dry-run %v", takes["report"], takes["srcpasswd"], takes["dry-run"])
	}
	flags := append(modeFlags("sync"), configFlag())
	errorLogFromArgs := func(args []string, takes map[string]bool) string {
		a, _ := argsAsGiven(flags, args, takes)
		return errorLogPath(a)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("error-log: from-config.log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tmsync", "sync", "--bad"}, "sync-error.log"},
		{[]string{"tmsync", "sync", "--bad", "--error-log", "a.log"}, "a.log"},
		{[]string{"tmsync", "sync", "-error-log=b.log", "--bad"}, "b.log"},
		{[]string{"tmsync", "sync", "--error-log", "a.log", "--error-log", "c.log"}, "c.log"},
		{[]string{"tmsync", "sync", "--", "--error-log", "a.log"}, "sync-error.log"},
		{[]string{"tmsync", "sync", "--config", cfg}, "from-config.log"},
		{[]string{"tmsync", "sync", "--config", cfg, "--error-log", "a.log"}, "a.log"},
		// Another flag's value is not read as a flag: --report's is "--error-log".
		{[]string{"tmsync", "sync", "--report", "--error-log", "--retries", "x"}, "sync-error.log"},
		{[]string{"tmsync", "sync", "--srcpasswd", "--error-log=/p", "--bad"}, "sync-error.log"},
		{[]string{"tmsync", "sync", "--dry-run", "--error-log", "d.log", "--bad"}, "d.log"},
	} {
		if got := errorLogFromArgs(c.args, takes); got != c.want {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
	t.Setenv("TMSYNC_ERROR_LOG", "env.log")
	if got := errorLogFromArgs([]string{"tmsync", "sync", "--config", cfg}, takes); got != "env.log" {
		t.Errorf("environment: %q", got)
	}
}
