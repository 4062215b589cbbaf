//go:build linux || darwin

package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
)

// TestCacheDirRefusedCreatesNothing: `--cache-dir` naming a folder that is not a blob
// store (the home folder by a typo), or one another run is using, stops the sync with
// exit 2 before any ECR repository is created, the folder named in the error log and left
// as it was; once the other run lets go, the same command syncs.
func TestCacheDirRefusedCreatesNothing(t *testing.T) {
	b := newBed(t)
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10}}
	b.push(images, 7, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	t.Setenv("TM_TOKEN", b.token)
	ecrc := ecr.NewFromConfig(b.ecr.Moto.Config())
	noRepositories := func(why string) {
		t.Helper()
		out, err := ecrc.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
		must(t, err)
		if len(out.Repositories) != 0 {
			t.Fatalf("%d repositories created by a run refused for %s", len(out.Repositories), why)
		}
	}

	home := filepath.Join(b.dir, "home")
	must(t, os.MkdirAll(filepath.Join(home, "ingest"), 0o755))
	must(t, os.WriteFile(filepath.Join(home, "ingest", "draft.txt"), []byte("mine"), 0o644))
	must(t, os.WriteFile(filepath.Join(home, ".bashrc"), []byte("export X=1"), 0o644))
	before := testbed.Listing(t, home)
	code, _ := b.run(b.args(rel, "--cache-dir", home))
	if code != 2 {
		t.Fatalf("exit %d with a cache folder that is not a store, want 2", code)
	}
	if log := b.errorLog(); !strings.Contains(log, home) || !strings.Contains(log, "not a tmsync blob store") {
		t.Errorf("error log %q: want the folder and why", log)
	}
	if got := testbed.Listing(t, home); got != before {
		t.Errorf("the refused folder was changed:\n%s\nthen\n%s", before, got)
	}
	noRepositories("a cache folder that is not a store")

	// Another run holds the folder: the lock a tmsync run takes (flock on tmsync.lock,
	// its pid written in it), held here by the test.
	cache := filepath.Join(b.dir, "cache")
	must(t, os.Mkdir(cache, 0o755))
	lock, err := os.OpenFile(filepath.Join(cache, "tmsync.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer lock.Close()
	must(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	const holder = 424242
	_, err = lock.WriteString(strconv.Itoa(holder) + "\n")
	must(t, err)
	code, _ = b.run(b.args(rel, "--cache-dir", cache))
	if code != 2 {
		t.Fatalf("exit %d with a cache folder in use, want 2", code)
	}
	if log := b.errorLog(); !strings.Contains(log, cache) || !strings.Contains(log, "another tmsync run") ||
		!strings.Contains(log, "pid "+strconv.Itoa(holder)) {
		t.Errorf("error log %q: want the folder, another run and its pid", log)
	}
	noRepositories("a cache folder in use")

	must(t, lock.Close()) // the other run ends
	if code, _ := b.run(b.args(rel, "--cache-dir", cache)); code != 0 {
		t.Fatalf("exit %d once the folder is free", code)
	}
	if b.targetDigest("3rdparty/tm/vault/core", "5.0.3") != images[0].Digest {
		t.Fatal("the image is not in the target")
	}
	if _, err := os.Stat(filepath.Join(cache, "oci-layout")); err != nil {
		t.Fatalf("the cache folder is not a store after the run: %v", err)
	}
}
