package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.podman.io/image/v5/docker/reference"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden loads each folder under testdata/good and compares the result, as JSON, with
// testdata/good/<name>.golden.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/good/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := LoadFS(os.DirFS(dir))
			if err != nil {
				t.Fatalf("LoadFS: %v", err)
			}
			for _, img := range f.Images() {
				checkImage(t, img, options{}.withDefaults())
			}
			got, err := json.MarshalIndent(struct {
				Folder *Folder
				Images []Image
			}{f, f.Images()}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := dir + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("LoadFS(%s) differs from %s (run go test -update and check the diff):\n%s", dir, golden, got)
			}
		})
	}
	if n < 5 {
		t.Errorf("found %d golden folders, expected at least 5", n)
	}
}

// TestLoadDir checks Load on a real directory: paths carry the directory.
func TestLoadDir(t *testing.T) {
	dir := filepath.Join("testdata", "good", "v5")
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "5.0.3_release.json")
	if f.Dir != dir || f.Releases[0].Files[0].Path != want || f.Images()[0].Origin.File != want {
		t.Errorf("Load(%s): Dir %q, file %q, origin %q; want paths under %s", dir, f.Dir, f.Releases[0].Files[0].Path, f.Images()[0].Origin.File, dir)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(absent dir) = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

// checkImage fails t when img is not something the engine can use: a source that the
// reference parser does not read back as itself, an unpinned release image without a
// tag, or a dest that does not form a valid ECR name below the prefix.
func checkImage(t testing.TB, img Image, opts options) {
	t.Helper()
	for _, s := range []string{img.Source.String(), img.Source.Pullable()} {
		named, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			t.Fatalf("image %s: source %q does not parse: %v", img.Dest, s, err)
		}
		if named.String() != s {
			t.Fatalf("image %s: source %q parses as %q", img.Dest, s, named.String())
		}
	}
	back, err := parseSource(img.Source.String())
	if err != nil || back != img.Source {
		t.Fatalf("image %s: source %#v reads back as %#v, %v", img.Dest, img.Source, back, err)
	}
	if img.Source.Tag == "" && img.Source.Digest == "" {
		t.Fatalf("image %s: source %s has neither tag nor digest", img.Dest, img.Source)
	}
	if msg := checkECRName(joinPrefix(opts.Prefix, img.Dest)); msg != "" {
		t.Fatalf("image %s: %s", img.Dest, msg)
	}
	if d, msg := parseDest(img.Dest.String(), opts); msg != "" || d != img.Dest {
		t.Fatalf("dest %#v reads back as %#v: %s", img.Dest, d, msg)
	}
	if img.Vendor != SameRegistry(img.Source.Registry, opts.VendorRegistry) {
		t.Fatalf("image %s: Vendor %v for registry %s", img.Dest, img.Vendor, img.Source.Registry)
	}
}

// TestFolderDigest: the lines are sorted by path whatever the map's order, and the value is
// the SHA-256 of "<sha>  <path>\n" lines, as sha256sum prints them.
func TestFolderDigest(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	want := sha256.Sum256([]byte(b + "  5.0.3_release.json\n" + a + "  z/images.txt\n"))
	if got := FolderDigest(map[string]string{"z/images.txt": a, "5.0.3_release.json": b}); got != hex.EncodeToString(want[:]) {
		t.Errorf("FolderDigest = %s, want %x", got, want)
	}
}
