package bundle

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tarTime is every entry's modification time: packing the same bundle twice gives the
// same bytes.
var tarTime = time.Unix(0, 0).UTC()

// Pack writes the bundle in dir to w as one tar, streaming from the files (no copy on
// disk): bundle.json first, then SHA256SUMS, then the files bundle.json lists, sorted by
// path; regular files only, mode 0644, uid/gid 0, no user names, mtime 1970-01-01. It
// returns the bytes written. Files not listed in bundle.json are not packed.
func Pack(ctx context.Context, dir string, w io.Writer) (int64, error) {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return 0, fmt.Errorf("packing %s: %w", dir, err)
	}
	m, err := parseManifest(mb)
	if err != nil {
		return 0, fmt.Errorf("packing %s: %w", dir, err)
	}
	paths := []string{ManifestFile, SumsFile}
	var rest []string
	for _, f := range m.Files {
		rest = append(rest, f.Path)
	}
	slices.Sort(rest)
	paths = append(paths, rest...)
	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return cw.n, err
		}
		if err := packFile(tw, dir, p); err != nil {
			return cw.n, fmt.Errorf("packing %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

func packFile(tw *tar.Writer, dir, p string) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: p, Size: fi.Size(), Mode: 0o644, ModTime: tarTime}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("changed size while packed")
	}
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// MinSplit is the smallest part size PackFile takes: one tar block.
const MinSplit = 512

// PackFile packs the bundle in dir into the file path, or, with split > 0, into parts
// of at most split bytes named path.000, path.001, ... It returns the files written.
// A part is written under a temporary name and renamed when complete.
func PackFile(ctx context.Context, dir, path string, split int64) ([]string, error) {
	if split < 0 {
		return nil, fmt.Errorf("bundle: negative split size %d", split)
	}
	if split > 0 && split < MinSplit {
		return nil, fmt.Errorf("bundle: split size %d is below one tar block (%d bytes)", split, MinSplit)
	}
	pw := &partWriter{path: path, split: split}
	_, err := Pack(ctx, dir, pw)
	if cerr := pw.close(); err == nil {
		err = cerr
	}
	if err != nil {
		pw.abort()
		return nil, err
	}
	return pw.done, nil
}

// partWriter writes a stream into one file or into parts of split bytes.
type partWriter struct {
	path  string
	split int64
	cur   *os.File
	n     int64 // bytes in cur
	done  []string
}

func (p *partWriter) name(i int) string {
	if p.split == 0 {
		return p.path
	}
	return fmt.Sprintf("%s.%03d", p.path, i)
}

func (p *partWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if p.cur == nil {
			f, err := os.Create(p.name(len(p.done)) + ".partial")
			if err != nil {
				return written, err
			}
			p.cur, p.n = f, 0
		}
		chunk := b
		if p.split > 0 && int64(len(chunk)) > p.split-p.n {
			chunk = chunk[:p.split-p.n]
		}
		n, err := p.cur.Write(chunk)
		written += n
		p.n += int64(n)
		b = b[n:]
		if err != nil {
			return written, err
		}
		if p.split > 0 && p.n == p.split {
			if err := p.closePart(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (p *partWriter) closePart() error {
	name := p.name(len(p.done))
	err := p.cur.Close()
	if err == nil {
		err = os.Rename(p.cur.Name(), name)
	}
	p.cur = nil
	if err != nil {
		return err
	}
	p.done = append(p.done, name)
	return nil
}

func (p *partWriter) close() error {
	if p.cur != nil {
		return p.closePart()
	}
	return nil
}

func (p *partWriter) abort() {
	if p.cur != nil {
		p.cur.Close()
		os.Remove(p.cur.Name())
	}
}

var partRE = regexp.MustCompile(`^(.*)\.([0-9]{3,})$`)

// PartBase is the packed bundle path a part of a split bundle belongs to: "b.tar" for
// "b.tar.001" (the name --split gives its parts); ok is false when path is not so named.
func PartBase(path string) (base string, ok bool) {
	if m := partRE.FindStringSubmatch(path); m != nil {
		return m[1], true
	}
	return "", false
}

// Parts returns the files of a packed bundle named by path: path itself when it is a
// single tar, or every part path.NNN (path may name the base or any part), in order.
// A gap in the numbering is ErrUnreadable naming the missing part.
func Parts(path string) ([]string, error) {
	base := path
	if m := partRE.FindStringSubmatch(path); m != nil {
		base = m[1]
	} else if _, err := os.Stat(path); err == nil {
		return []string{path}, nil
	}
	dir := filepath.Dir(base)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, unreadable(err)
	}
	nums := map[int]string{}
	maxN := -1
	for _, e := range ents {
		full := filepath.Join(dir, e.Name())
		m := partRE.FindStringSubmatch(full)
		if m == nil || m[1] != base || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		if _, dup := nums[n]; dup {
			return nil, unreadable(fmt.Errorf("part %d of %s is there twice (%s, %s)", n, base, nums[n], full))
		}
		nums[n] = full
		maxN = max(maxN, n)
	}
	if maxN < 0 {
		return nil, unreadable(fmt.Errorf("%s: %w", path, fs.ErrNotExist))
	}
	var out []string
	var gaps []string
	for i := 0; i <= maxN; i++ {
		if p, ok := nums[i]; ok {
			out = append(out, p)
		} else {
			gaps = append(gaps, fmt.Sprintf("%s.%03d", base, i))
		}
	}
	if len(gaps) > 0 {
		return nil, unreadable(fmt.Errorf("split bundle %s: missing part(s) %s", base, strings.Join(gaps, ", ")))
	}
	return out, nil
}

// openParts opens the parts as one stream.
func openParts(paths []string) (io.ReadCloser, error) {
	var files []*os.File
	var readers []io.Reader
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, unreadable(err)
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	return &multiFile{Reader: io.MultiReader(readers...), files: files}, nil
}

type multiFile struct {
	io.Reader
	files []*os.File
}

func (m *multiFile) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
