package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputExitsTwo: a release folder that does not parse stops the run before any
// registry is touched, with exit 2 and an error log that names the file and line.
func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "release")
	os.Mkdir(rel, 0o755)
	os.WriteFile(filepath.Join(rel, "4.0.1_tm_registry_images.txt"), []byte("vault/core:4.0.1\nvault/x:4.0.1 a b\n"), 0o644)
	key := filepath.Join(dir, "key.asc")
	os.WriteFile(key, []byte("not a key"), 0o644)
	errLog := filepath.Join(dir, "sync-error.log")
	t.Setenv("TM_TOKEN", "t0k3n-value-never-printed")
	var out bytes.Buffer
	// The target registry is a closed port: reaching it would fail differently.
	args := []string{"tmsync", "sync", "--target", "registry", "--trg-registry", "127.0.0.1:1",
		"--src_attestor", key, "--release-dir", rel, "--error-log", errLog}
	if code := run(context.Background(), args, &out, &out); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, out.String())
	}
	// The key is read before the release: fix it, the release error remains.
	os.WriteFile(key, []byte(testArmoredKey(t)), 0o644)
	out.Reset()
	if code := run(context.Background(), args, &out, &out); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, out.String())
	}
	log, err := os.ReadFile(errLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "4.0.1_tm_registry_images.txt:2") {
		t.Fatalf("error log %q does not name the file and line", log)
	}
	if strings.Contains(out.String()+string(log), "t0k3n-value-never-printed") {
		t.Fatal("the token was printed")
	}
	t.Setenv("TMSYNC_ERROR_LOG", errLog) // a command line that does not parse writes it
	for _, bad := range [][]string{
		{"tmsync", "sync", "--no-such-flag"},
		{"tmsync", "sync", "--concurrency", "0"},
		{"tmsync", "sync", "--byo-policy", "maybe", "--target", "registry", "--trg-registry", "127.0.0.1:1", "--src_attestor", key, "--release-dir", rel, "--error-log", errLog},
		{"tmsync", "sync", "stray-argument"},
	} {
		if code := run(context.Background(), bad, &out, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad[2:], code)
		}
	}
}
