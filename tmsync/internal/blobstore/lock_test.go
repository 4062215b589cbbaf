package blobstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// listing is every path under dir with its kind, size, mode and contents' digest (links
// by their target), for "nothing was changed" checks.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d %s", rel, info.Mode(), info.Size(), info.ModTime().Format(time.RFC3339Nano))
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenLocked(t *testing.T) {
	if !lockSupported {
		t.Skip("no flock on this platform")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	first, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// The first run is writing a blob: its ingest file must survive the second Open.
	blob, d := randomBlob(t, 10_000, 20)
	w, err := first.Begin(context.Background(), d, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(blob[:5000]); err != nil {
		t.Fatal(err)
	}
	before := listing(t, dir)
	for _, spelling := range []string{dir, dir + "/", dir + "/./", filepath.Join(dir, "..", "cache")} {
		_, err := Open(Options{Dir: spelling})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open of %q: %v, want ErrLocked", spelling, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, spelling) || !strings.Contains(msg, "another tmsync run") ||
			!strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
			t.Fatalf("message %q: want the folder, another run and this pid", msg)
		}
	}
	if after := listing(t, dir); after != before {
		t.Fatalf("a refused Open changed the folder:\n%s\nthen\n%s", before, after)
	}
	if _, err := w.Write(blob[5000:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("the first run's write failed after a refused Open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer second.Close()
	if !bytes.Equal(readAll(t, second, d), blob) {
		t.Fatal("reused blob reads other bytes")
	}
	// A temporary store locks too, and a refused one leaves no folder behind.
	parent := t.TempDir()
	tmp := open(t, Options{TempParent: parent})
	if _, err := Open(Options{Dir: tmp.Dir()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a temporary store's folder: %v", err)
	}
}

// helperEnv makes the test binary a process that holds a store open (TestLockHelperProcess).
const helperEnv = "BLOBSTORE_LOCK_HELPER_DIR"

// TestLockHelperProcess is not a test: run by TestLockOtherProcess as a child process, it
// opens the store named by helperEnv, says "held", and keeps it until killed or its
// stdin closes.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("held")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = s.Close()
	os.Exit(0)
}

func startHolder(t *testing.T, dir string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "held" {
		t.Fatalf("helper process: %q %v", line, err)
	}
	return cmd, func() { _ = stdin.Close() }
}

func TestLockOtherProcess(t *testing.T) {
	if !lockSupported {
		t.Skip("no flock on this platform")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	// Released by Close: the child closes the store when its stdin ends.
	cmd, release := startHolder(t, dir)
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("Open while another process holds the store: %v; want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after the other process closed: %v", err)
	}
	_ = s.Close()

	// A holder that dies (SIGKILL: no Close) leaves no stale lock, though its pid is
	// still written in the lock file.
	cmd, _ = startHolder(t, dir)
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds the store: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if b, _ := os.ReadFile(filepath.Join(dir, lockFile)); strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Logf("lock file after the kill: %q", b)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	_ = s.Close()
}

func TestNotAStoreRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"a file", map[string]string{"notes.txt": "mine"}},
		{"a hidden file", map[string]string{".bashrc": "export X=1"}},
		{"an ingest folder of someone else's", map[string]string{"ingest/work.doc": "precious", "ingest/sub/x": "y"}},
		{"blobs and ingest but no oci-layout", map[string]string{"blobs/sha256/abc": "z", "ingest/partial": "p"}},
		{"a lock file and more", map[string]string{lockFile: "", "report.pdf": "r"}},
		{"index.json only", map[string]string{"index.json": `{"schemaVersion":2,"manifests":[]}`}},
		{"an empty folder in it", map[string]string{"Documents/": ""}},
		{"lost+found and a file", map[string]string{"lost+found/": "", "data.csv": "1,2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tc.files {
				if strings.HasSuffix(p, "/") {
					if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				mustWrite(t, filepath.Join(dir, p), c)
			}
			before := listing(t, dir)
			_, err := Open(Options{Dir: dir})
			if !errors.Is(err, ErrNotStore) {
				t.Fatalf("Open: %v, want ErrNotStore", err)
			}
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "no oci-layout") {
				t.Fatalf("message %q: want the folder and the reason", msg)
			}
			if after := listing(t, dir); after != before {
				t.Fatalf("a refused folder was changed:\n%s\nthen\n%s", before, after)
			}
		})
	}
	// A file, not a folder.
	f := filepath.Join(t.TempDir(), "file")
	mustWrite(t, f, "x")
	if _, err := Open(Options{Dir: f}); err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("Open of a file: %v", err)
	}
	if b, _ := os.ReadFile(f); string(b) != "x" {
		t.Fatal("the file was changed")
	}
}

func TestEmptyOrNewFolderAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"empty", func(t *testing.T) string { return t.TempDir() }},
		{"new, two levels down", func(t *testing.T) string { return filepath.Join(t.TempDir(), "a", "b") }},
		{"only a stale lock file", func(t *testing.T) string {
			d := t.TempDir()
			mustWrite(t, filepath.Join(d, lockFile), "999999\n")
			return d
		}},
		{"a volume's lost+found and a stale lock", func(t *testing.T) string {
			d := t.TempDir()
			if err := os.Mkdir(filepath.Join(d, "lost+found"), 0o700); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(d, lockFile), "")
			return d
		}},
		{"a link to an empty folder", func(t *testing.T) string {
			target := t.TempDir()
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			s := open(t, Options{Dir: dir})
			blob, d := randomBlob(t, 1000, 21)
			if err := s.Put(context.Background(), d, int64(len(blob)), bytes.NewReader(blob)); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{layoutFile, indexFile, lockFile} {
				if fi, err := os.Lstat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("%s: %v", f, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// Reused.
			r := open(t, Options{Dir: dir})
			if !bytes.Equal(readAll(t, r, d), blob) {
				t.Fatal("reused blob reads other bytes")
			}
		})
	}
}

// outside is a folder next to the store with a file the store must never touch.
func outside(t *testing.T) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "victim")
	mustWrite(t, file, "not yours")
	return dir, file
}

func TestLinksInTheLayoutRefused(t *testing.T) {
	blob, d := randomBlob(t, 3000, 22)
	alg := filepath.Join(ocispec.ImageBlobsDir, "sha256")
	for _, tc := range []struct {
		name string
		// replace turns the store's path into something else, given an outside folder.
		path    string
		replace func(t *testing.T, path, out string)
	}{
		{"ingest is a link", ingestDir, symlinkTo},
		{"blobs is a link", ocispec.ImageBlobsDir, symlinkTo},
		{"blobs/sha256 is a link", alg, symlinkTo},
		{"blobs/sha512 is a link (no such folder before)", filepath.Join(ocispec.ImageBlobsDir, "sha512"), symlinkTo},
		{"blobs/other is a link", filepath.Join(ocispec.ImageBlobsDir, "whatever"), symlinkTo},
		{"ingest is a file", ingestDir, fileAt},
		{"blobs/sha256 is a file", alg, fileAt},
		{"blobs is a file", ocispec.ImageBlobsDir, fileAt},
		{"oci-layout is a link", layoutFile, func(t *testing.T, path, out string) {
			mustWrite(t, filepath.Join(out, "layout"), `{"imageLayoutVersion":"1.0.0"}`)
			replaceWith(t, path, func() error { return os.Symlink(filepath.Join(out, "layout"), path) })
		}},
		{"the lock file is a link", lockFile, func(t *testing.T, path, out string) {
			replaceWith(t, path, func() error { return os.Symlink(filepath.Join(out, "victim"), path) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			s, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(context.Background(), d, int64(len(blob)), bytes.NewReader(blob)); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			out, victim := outside(t)
			// What a clear-out of ingest/ or a blob write would touch out there.
			mustWrite(t, filepath.Join(out, d.Encoded()), "a blob file that is not the blob")
			tc.replace(t, filepath.Join(dir, tc.path), out)
			beforeOut, beforeStore := listing(t, out), listing(t, dir)
			_, err = Open(Options{Dir: dir})
			if !errors.Is(err, ErrUnsafeLayout) {
				t.Fatalf("Open: %v, want ErrUnsafeLayout", err)
			}
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, filepath.Base(tc.path)) {
				t.Fatalf("message %q: want the folder and %s", msg, tc.path)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "not yours" {
				t.Fatalf("the file outside the store: %q %v", b, err)
			}
			if got := listing(t, out); got != beforeOut {
				t.Fatalf("the folder outside the store was changed:\n%s\nthen\n%s", beforeOut, got)
			}
			if got := listing(t, dir); got != beforeStore {
				t.Fatalf("the refused store was changed:\n%s\nthen\n%s", beforeStore, got)
			}
		})
	}
}

func replaceWith(t *testing.T, path string, make func() error) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := make(); err != nil {
		t.Fatal(err)
	}
}

// symlinkTo replaces path by a link to out.
func symlinkTo(t *testing.T, path, out string) {
	replaceWith(t, path, func() error { return os.Symlink(out, path) })
}

// fileAt replaces path by a regular file.
func fileAt(t *testing.T, path, _ string) {
	replaceWith(t, path, func() error { return os.WriteFile(path, []byte("a file"), 0o644) })
}

func TestBlobLinkNeverServed(t *testing.T) {
	ctx := context.Background()
	blob, d := randomBlob(t, 3000, 23)
	other, do := randomBlob(t, 3000, 24)
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range [][]byte{blob, other} {
		if err := s.Put(ctx, digestOf(x), int64(len(x)), bytes.NewReader(x)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	// A link in place of a blob, to a file holding the right bytes: not a blob of the
	// store (its bytes could change under it), not counted, not served.
	out := t.TempDir()
	target := filepath.Join(out, "target")
	mustWrite(t, target, string(blob))
	replaceWith(t, s.blobPath(d), func() error { return os.Symlink(target, s.blobPath(d)) })

	r := open(t, Options{Dir: dir})
	if _, ok := r.Has(d); ok {
		t.Fatal("a link is held as a blob")
	}
	if _, _, err := r.Open(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a link: %v", err)
	}
	// A link put in place of a reused blob after Open: the verifying read refuses it.
	target2 := filepath.Join(out, "target2")
	mustWrite(t, target2, string(other))
	replaceWith(t, r.blobPath(do), func() error { return os.Symlink(target2, r.blobPath(do)) })
	if _, _, err := r.Open(do); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a reused blob turned into a link: %v", err)
	}
	// Fetched again: the real file replaces the link, the link's target is untouched.
	if err := r.Put(ctx, d, int64(len(blob)), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(r.blobPath(d)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("blob after Put: %v", err)
	}
	// A blob written in this run, then turned into a link: not served either.
	replaceWith(t, r.blobPath(d), func() error { return os.Symlink(target, r.blobPath(d)) })
	if _, _, err := r.Open(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a written blob turned into a link: %v", err)
	}
	for p, want := range map[string][]byte{target: blob, target2: other} {
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("the link's target %s was changed: %v", p, err)
		}
	}
}

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }

// A file system without locks (ENOLCK, ENOTSUP) leaves the store unlocked, said by
// Unlocked; a lock held elsewhere is not that.
func TestLockUnsupportedClassified(t *testing.T) {
	if !lockSupported {
		t.Skip("no flock on this platform")
	}
	for _, err := range []error{syscall.ENOLCK, syscall.EOPNOTSUPP, syscall.ENOTSUP, syscall.ENOSYS, fmt.Errorf("flock: %w", syscall.ENOLCK)} {
		if !lockUnsupported(err) {
			t.Errorf("%v: not read as a file system without locks", err)
		}
	}
	for _, err := range []error{syscall.EWOULDBLOCK, syscall.EBADF, syscall.EINTR, errors.New("ENOLCK")} {
		if lockUnsupported(err) {
			t.Errorf("%v: read as a file system without locks", err)
		}
	}
	s := open(t, Options{Dir: t.TempDir()})
	if err := s.Unlocked(); err != nil {
		t.Errorf("a store on a file system with locks says %v", err)
	}
}
