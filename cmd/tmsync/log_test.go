package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/internal/exampletest"
)

// TestLogFlags: without --log-level nothing is logged (stdout's console lines are the
// whole output, as before); --debug --log-format json logs the engine's records and
// containers/image's as JSON on stderr, through the redactor; a bad level is exit 2.
func TestLogFlags(t *testing.T) {
	ctx := context.Background()
	images, err := exampletest.Release()
	if err != nil {
		t.Fatal(err)
	}
	w, err := exampletest.Start(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	key, err := w.WriteKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TM_TOKEN", w.Token)
	args := func(extra ...string) []string {
		return append([]string{"tmsync", "sync", "--target", "registry", "--trg-registry", w.Target, "--trgprefix", "/mirror/",
			"--srcdomain", w.Vendor, "--src_attestions_address", w.Attestations.URL, "--src_attestor", key,
			"--insecure-registry", w.Vendor, "--insecure-registry", w.Target, "--release-dir", w.ReleaseDir,
			"--error-log", filepath.Join(dir, "sync-error.log")}, extra...)
	}

	var stdout, stderr bytes.Buffer
	if code := run(ctx, args(), &stdout, &stderr); code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr without --log-level:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "INFO: sync finished: 3 images: 3 copied") {
		t.Errorf("console:\n%s", stdout.String())
	}

	stdout.Reset()
	if code := run(ctx, args("--debug", "--log-format", "json"), &stdout, &stderr); code != 0 {
		t.Fatalf("sync --debug: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	var engine, cimage int
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "release read" {
			engine++
		}
		if rec["source"] == "containers/image" {
			cimage++
		}
	}
	if engine != 1 || cimage == 0 {
		t.Errorf("%d engine 'release read' records, %d containers/image records; want 1 and some:\n%s", engine, cimage, stderr.String())
	}
	if strings.Contains(stderr.String(), w.Token) {
		t.Error("the vendor token is in the log")
	}
	if !strings.Contains(stdout.String(), "SKIP: ") || strings.Contains(stdout.String(), `"level"`) {
		t.Errorf("the console changed with --debug:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(ctx, args("--log-level", "loud"), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--log-level \"loud\"") {
		t.Errorf("--log-level loud: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}
