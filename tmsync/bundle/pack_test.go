package bundle

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPartWriterAndParts(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes
	for _, split := range []int64{0, 512, 4096, 16000, 16001} {
		dir := t.TempDir()
		pw := &partWriter{path: filepath.Join(dir, "b.tar"), split: split}
		for off := 0; off < len(data); off += 777 { // writes that straddle parts
			pw.Write(data[off:min(off+777, len(data))])
		}
		if err := pw.close(); err != nil {
			t.Fatal(err)
		}
		want := 1
		if split > 0 {
			want = int((int64(len(data)) + split - 1) / split)
		}
		if len(pw.done) != want {
			t.Errorf("split %d: %d parts, want %d", split, len(pw.done), want)
		}
		for _, name := range append([]string{filepath.Join(dir, "b.tar")}, pw.done...) {
			parts, err := Parts(name)
			if err != nil {
				t.Fatalf("Parts(%s): %v", name, err)
			}
			rc, err := openParts(parts)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) {
				t.Errorf("split %d via %s: reassembled %d bytes, not the stream", split, filepath.Base(name), len(got))
			}
		}
		if split == 512 {
			os.Remove(pw.done[5])
			if _, err := Parts(pw.done[0]); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "b.tar.005") {
				t.Errorf("a gap: %v", err)
			}
		}
	}
	if _, err := Parts(filepath.Join(t.TempDir(), "none.tar")); !errors.Is(err, ErrUnreadable) {
		t.Errorf("no such bundle: %v", err)
	}
}

func TestPrepareDir(t *testing.T) {
	dir := t.TempDir()
	prepareDir := func(dir string, releases []string) error { // as Export does, around opening the store
		if err := checkDir(dir, releases); err != nil {
			return err
		}
		return prepareDir(dir)
	}
	if err := prepareDir(dir, []string{"5.0.3"}); err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Format: FormatVersion, Releases: []string{"5.0.3"}}
	b, _ := encodeManifest(m)
	os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644)
	os.WriteFile(filepath.Join(dir, SumsFile), nil, 0o644)
	if err := prepareDir(dir, []string{"5.1.0"}); !errors.Is(err, ErrExists) {
		t.Errorf("a bundle of another release: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err != nil {
		t.Errorf("a refused export touched the bundle: %v", err)
	}
	if err := prepareDir(dir, []string{"5.0.3"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ManifestFile, SumsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a resumed export keeps %s while it writes", f)
		}
	}
}
