package blobstore

import (
	"context"
	_ "crypto/sha256" // go-digest's algorithms need their hashes linked in
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configure Open. The zero value is a temporary, unbounded store.
type Options struct {
	// Dir is the layout's folder. Empty (the default): a new temporary folder under
	// TempParent, removed by Close. Set (tmsync's --cache-dir): the folder is created
	// if missing, reused if it holds a layout, refused if it holds anything else (see
	// Open), and kept by Close.
	Dir string
	// TempParent is where a temporary store is made. Default os.TempDir().
	TempParent string
	// MaxBytes bounds the blobs' bytes (stored plus being written). Default 0: no
	// bound. Blobs found at Open count against it.
	MaxBytes int64
}

// Stats count what the store did since Open.
type Stats struct {
	// Blobs and Bytes are what the store holds now.
	Blobs int
	Bytes int64
	// Reused is the blobs found on disk at Open.
	Reused int
	// Written is the blobs committed in this run, WrittenBytes their bytes.
	Written      int
	WrittenBytes int64
	// Served is the blobs opened for reading.
	Served int
	// Refused is the Begin calls refused with ErrFull.
	Refused int
	// Evicted is the reused blobs removed because they no longer matched their digest.
	Evicted int
}

// Store is an OCI image layout used as a content-addressed blob store. Its methods are
// safe for concurrent use.
type Store struct {
	root  string
	temp  bool
	max   int64
	lockf *os.File // the folder's lock, held until Close
	// unlocked: the folder's file system refused the lock (ENOLCK, ENOTSUP): not locked.
	unlocked error

	mu       sync.Mutex
	closed   bool
	blobs    map[digest.Digest]*entry
	inflight map[digest.Digest]*flight
	used     int64 // bytes of stored blobs
	reserved int64 // bytes reserved by open writers
	stats    Stats
}

type entry struct {
	size     int64
	verified bool // hashed in this run (written, or reused and checked)
}

type flight struct{ done chan struct{} }

const (
	ingestDir  = "ingest"
	indexFile  = "index.json"
	layoutFile = ocispec.ImageLayoutFile
	// lockFile is locked (flock) while a Store is open on the folder; it holds the
	// holder's pid, for the message of a run refused (never for the decision).
	lockFile = "tmsync.lock"
)

// Open opens (or creates) the store. A Dir that exists must be empty or hold an
// oci-layout file (ErrNotStore), must not be open by another Store, in this process or
// another (ErrLocked, until Close or the holder's death), and its ingest, blobs and
// blobs/<alg> folders must be real folders (ErrUnsafeLayout). A refused Dir is left as
// it was.
func Open(opts Options) (*Store, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("blob store: negative MaxBytes %d", opts.MaxBytes)
	}
	s := &Store{root: opts.Dir, max: opts.MaxBytes, blobs: map[digest.Digest]*entry{}, inflight: map[digest.Digest]*flight{}}
	if s.root == "" {
		dir, err := os.MkdirTemp(opts.TempParent, "tmsync-blobs-")
		if err != nil {
			return nil, fmt.Errorf("creating the blob store: %w", err)
		}
		s.root, s.temp = dir, true
	}
	if err := s.init(); err != nil {
		s.unlock()
		if s.temp {
			_ = os.RemoveAll(s.root)
		}
		return nil, err
	}
	return s, nil
}

// checkRoot makes the folder when it is missing, and refuses one that is there but is
// not a store (entries, and no oci-layout): nothing is written into a folder before it
// passes.
func (s *Store) checkRoot() error {
	info, err := os.Stat(s.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(s.root, 0o755); err != nil {
			return fmt.Errorf("creating the blob store: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("opening the blob store: %w", err)
	case !info.IsDir():
		return fmt.Errorf("blob store %s: not a folder", s.root)
	}
	if li, err := os.Lstat(filepath.Join(s.root, layoutFile)); err == nil {
		if !li.Mode().IsRegular() {
			return fmt.Errorf("blob store %s: %s is %s: %w", s.root, layoutFile, kind(li.Mode()), ErrUnsafeLayout)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	d, err := os.Open(s.root)
	if err != nil {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	defer d.Close()
	// Three names are enough to tell: a folder holding only a lock file (a run that
	// stopped before it wrote oci-layout) and a file system's lost+found (a volume
	// mounted for the cache) is still empty.
	names, err := d.Readdirnames(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	for _, n := range names {
		if n != lockFile && n != "lost+found" {
			return fmt.Errorf("blob store %s: %w", s.root, ErrNotStore)
		}
	}
	return nil
}

// Unlocked is why the store's folder could not be locked against another run (its file
// system has no locks), or nil.
func (s *Store) Unlocked() error { return s.unlocked }

// lock takes the folder's lock, or fails with ErrLocked naming the holder's pid when
// its lock file says it.
func (s *Store) lock() error {
	p := filepath.Join(s.root, lockFile)
	if li, err := os.Lstat(p); err == nil && !li.Mode().IsRegular() {
		return fmt.Errorf("blob store %s: %s is %s: %w", s.root, lockFile, kind(li.Mode()), ErrUnsafeLayout)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|noFollow, 0o644)
	if err != nil {
		return fmt.Errorf("blob store %s: opening its lock file: %w", s.root, err)
	}
	held, err := tryLock(f)
	if err != nil && lockUnsupported(err) {
		// A file system without locks (NFS without a lock daemon, some FUSE mounts): the
		// store works, unlocked, as it did before locks; Unlocked says so.
		s.unlocked = fmt.Errorf("blob store %s: not locked against another run (%s: %w)", s.root, lockFile, err)
		f.Close()
		return nil
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("blob store %s: locking %s: %w", s.root, lockFile, err)
	}
	if !held {
		holder := ""
		if pid := holderPID(f); pid > 0 {
			holder = fmt.Sprintf(" (pid %d, says %s)", pid, lockFile)
		}
		f.Close()
		return fmt.Errorf("blob store %s: %w%s: wait for it to end or choose another folder", s.root, ErrLocked, holder)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lockf = f
	return nil
}

// holderPID reads the pid a holder wrote into its lock file (0 when there is none).
func holderPID(f *os.File) int {
	b := make([]byte, 24)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// unlock releases the folder's lock. The pid is cleared but the file stays: removing it
// would let a run that opened it before the removal and one that makes a new one both
// hold "the" lock.
func (s *Store) unlock() {
	if s.lockf == nil {
		return
	}
	_ = s.lockf.Truncate(0)
	_ = s.lockf.Close()
	s.lockf = nil
}

// checkFolders refuses a store whose ingest, blobs or blobs/<alg> is a symbolic link
// or not a folder: clearing ingest/ and writing blobs would follow it out of the store.
func (s *Store) checkFolders() error {
	for _, name := range []string{ingestDir, ocispec.ImageBlobsDir} {
		fi, err := os.Lstat(filepath.Join(s.root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("opening the blob store: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("blob store %s: %s is %s: %w", s.root, name, kind(fi.Mode()), ErrUnsafeLayout)
		}
	}
	algs, err := os.ReadDir(filepath.Join(s.root, ocispec.ImageBlobsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	for _, a := range algs {
		// Any link is refused (a later version may write that algorithm); a file of
		// another name (.DS_Store) is left alone.
		if a.Type()&fs.ModeSymlink != 0 || (!a.IsDir() && digest.Algorithm(a.Name()).Available()) {
			return fmt.Errorf("blob store %s: %s is %s: %w", s.root, filepath.Join(ocispec.ImageBlobsDir, a.Name()), kind(a.Type()), ErrUnsafeLayout)
		}
	}
	return nil
}

// kind names what a file is, for an error.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a folder"
	case m.IsRegular():
		return "a file"
	}
	return "not a folder"
}

func (s *Store) init() error {
	if err := s.checkRoot(); err != nil {
		return err
	}
	// Before the lock, so that a refused store is left as it was (the lock writes its
	// pid into the lock file).
	if err := s.checkFolders(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(s.root, layoutFile)); err == nil {
		var l ocispec.ImageLayout
		if err := json.Unmarshal(b, &l); err != nil || l.Version != ocispec.ImageLayoutVersion {
			return fmt.Errorf("blob store %s: %s is not an OCI layout %s file", s.root, layoutFile, ocispec.ImageLayoutVersion)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		// Written first: from now on the folder is a store, even if the run stops here.
		b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err := writeAtomic(filepath.Join(s.root, layoutFile), b); err != nil {
			return fmt.Errorf("creating the blob store: %w", err)
		}
	} else {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	for _, d := range []string{filepath.Join(s.root, ocispec.ImageBlobsDir), filepath.Join(s.root, ingestDir)} {
		// Mkdir, not MkdirAll: each is a folder or missing (checkFolders).
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating the blob store: %w", err)
		}
	}
	// index.json: checked when there is one, written empty when there is none (the
	// air-gap bundle writes its own).
	if b, err := os.ReadFile(filepath.Join(s.root, indexFile)); err == nil {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("blob store %s: reading %s: %w", s.root, indexFile, err)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := s.writeIndex(); err != nil {
			return err
		}
	} else {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	// Leftovers of a run that stopped while writing: never visible, now garbage. The
	// lock says no other run is writing them; RemoveAll does not follow a link inside.
	if ents, err := os.ReadDir(filepath.Join(s.root, ingestDir)); err == nil {
		for _, e := range ents {
			_ = os.RemoveAll(filepath.Join(s.root, ingestDir, e.Name()))
		}
	}
	algs, err := os.ReadDir(filepath.Join(s.root, ocispec.ImageBlobsDir))
	if err != nil {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.root, ocispec.ImageBlobsDir, a.Name()))
		if err != nil {
			return fmt.Errorf("opening the blob store: %w", err)
		}
		for _, f := range files {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), f.Name())
			info, err := f.Info()
			if err != nil || !info.Mode().IsRegular() || d.Validate() != nil {
				continue // not a blob of ours (a link, a folder): leave it alone
			}
			s.blobs[d] = &entry{size: info.Size()}
			s.used += info.Size()
			s.stats.Reused++
		}
	}
	return nil
}

// Dir is the layout's folder.
func (s *Store) Dir() string { return s.root }

// SetMaxBytes changes the bound (0: none), for a caller that learns it after Open (the
// copy plan is made by reading manifests through the store). Blobs already held stay.
func (s *Store) SetMaxBytes(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max = max(n, 0)
}

// MaxBytes is the bound (0: none).
func (s *Store) MaxBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// Size is the bytes of the blobs stored.
func (s *Store) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Stats returns the counts so far.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Blobs, st.Bytes = len(s.blobs), s.used
	return st
}

// Has reports whether the store holds d, and its size. A reused blob not yet verified
// counts as held; Open verifies it.
func (s *Store) Has(d digest.Digest) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blobs[d]
	if !ok {
		return 0, false
	}
	return e.size, true
}

func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// Open returns a reader of blob d and its size, or ErrNotFound. A blob reused from an
// earlier run is hashed once first; if it does not match it is removed and Open
// reports ErrNotFound.
func (s *Store) Open(d digest.Digest) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, 0, ErrClosed
	}
	e, ok := s.blobs[d]
	var verified bool
	var size int64
	if ok {
		verified, size = e.verified, e.size
	}
	s.mu.Unlock()
	if !ok {
		return nil, 0, ErrNotFound
	}
	if !verified {
		if err := s.verify(d, size); err != nil {
			return nil, 0, err
		}
	}
	f, err := openBlob(s.blobPath(d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isLink(s.blobPath(d)) {
			s.forget(d, false)
			return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, d)
		}
		return nil, 0, fmt.Errorf("opening blob %s: %w", d, err)
	}
	s.mu.Lock()
	s.stats.Served++
	s.mu.Unlock()
	return f, size, nil
}

// verify hashes a reused blob; a mismatch removes it.
func (s *Store) verify(d digest.Digest, size int64) error {
	f, err := openBlob(s.blobPath(d))
	if err != nil {
		s.forget(d, false)
		return fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	defer f.Close()
	v := d.Verifier()
	n, err := io.Copy(v, f)
	if err != nil {
		return fmt.Errorf("verifying blob %s: %w", d, err)
	}
	if n != size || !v.Verified() {
		_ = os.Remove(s.blobPath(d))
		s.forget(d, true)
		return fmt.Errorf("%w: %s (a reused blob did not match and was removed)", ErrNotFound, d)
	}
	s.mu.Lock()
	if e, ok := s.blobs[d]; ok {
		e.verified = true
	}
	s.mu.Unlock()
	return nil
}

func (s *Store) forget(d digest.Digest, evicted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.blobs[d]; ok {
		s.used -= e.size
		delete(s.blobs, d)
		if evicted {
			s.stats.Evicted++
		}
	}
}

// Begin starts writing blob d of size bytes. It returns a Writer, or ErrExists when the
// store holds d (read it with Open), or ErrFull when size does not fit the bound or is
// unknown (negative). While another Writer of d is open, Begin waits for it: if that
// one commits, Begin returns ErrExists; if it aborts, this caller gets the Writer.
func (s *Store) Begin(ctx context.Context, d digest.Digest, size int64) (*Writer, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if _, ok := s.blobs[d]; ok {
			s.mu.Unlock()
			return nil, ErrExists
		}
		if f, ok := s.inflight[d]; ok {
			s.mu.Unlock()
			select {
			case <-f.done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if size < 0 || (s.max > 0 && s.used+s.reserved+size > s.max) {
			s.stats.Refused++
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %s of %d bytes (%d of %d used)", ErrFull, d, size, s.used+s.reserved, s.max)
		}
		s.reserved += size
		fl := &flight{done: make(chan struct{})}
		s.inflight[d] = fl
		s.mu.Unlock()
		f, err := os.CreateTemp(filepath.Join(s.root, ingestDir), d.Encoded()+"-*")
		if err != nil {
			s.finish(d, fl, size, false)
			return nil, fmt.Errorf("writing blob %s: %w", d, err)
		}
		return &Writer{s: s, d: d, size: size, f: f, h: d.Algorithm().Hash(), fl: fl}, nil
	}
}

// finish ends a flight: the reservation is released and, if committed, the blob counted.
func (s *Store) finish(d digest.Digest, fl *flight, size int64, committed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved -= size
	if committed {
		s.blobs[d] = &entry{size: size, verified: true}
		s.used += size
		s.stats.Written++
		s.stats.WrittenBytes += size
	}
	delete(s.inflight, d)
	close(fl.done)
}

// Put stores the blob d of size bytes read from r, verifying it. A blob already held
// is not read again (nil). ErrFull as for Begin.
func (s *Store) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) error {
	w, err := s.Begin(ctx, d, size)
	if errors.Is(err, ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return fmt.Errorf("storing blob %s: %w", d, err)
	}
	return w.Commit()
}

// Writer writes one blob into the store. Commit makes it visible once verified; Abort
// (or a failed Commit) drops it. Exactly one of them must be called.
type Writer struct {
	s    *Store
	d    digest.Digest
	size int64
	f    *os.File
	h    hash.Hash
	n    int64
	fl   *flight
	done bool
}

// Write writes the next bytes of the blob. More than the announced size fails.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("blob store: write after commit or abort")
	}
	if w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("%w: %s is more than %d bytes", ErrDigestMismatch, w.d, w.size)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Written is the bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// Commit checks the size and digest and makes the blob visible.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("blob store: commit after commit or abort")
	}
	w.done = true
	name := w.f.Name()
	cerr := w.f.Close()
	got := digest.NewDigest(w.d.Algorithm(), w.h)
	var err error
	switch {
	case cerr != nil:
		err = fmt.Errorf("writing blob %s: %w", w.d, cerr)
	case w.n != w.size:
		err = fmt.Errorf("%w: %s has %d bytes, expected %d", ErrDigestMismatch, w.d, w.n, w.size)
	case got != w.d:
		err = fmt.Errorf("%w: expected %s, got %s", ErrDigestMismatch, w.d, got)
	default:
		dst := w.s.blobPath(w.d)
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.Rename(name, dst)
		}
		if err != nil {
			err = fmt.Errorf("storing blob %s: %w", w.d, err)
		}
	}
	if err != nil {
		_ = os.Remove(name)
	}
	w.s.finish(w.d, w.fl, w.size, err == nil)
	return err
}

// Abort drops what was written. It does nothing after Commit or Abort.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
	w.s.finish(w.d, w.fl, w.size, false)
}

// writeIndex writes an empty index.json.
func (s *Store) writeIndex() error {
	b, err := json.Marshal(ocispec.Index{Versioned: imgspecs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{}})
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.root, indexFile), b); err != nil {
		return fmt.Errorf("writing the blob store's index: %w", err)
	}
	return nil
}

// Close ends the store's use: a temporary store is removed, a kept one stays. Writers
// still open are dropped.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.unlock()
	if s.temp {
		return os.RemoveAll(s.root)
	}
	return nil
}

// openBlob opens a blob file for reading, never through a symbolic link (one put there
// after Open: those found at Open are not blobs).
func openBlob(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|noFollow, 0)
}

func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// writeAtomic writes b to path through a temporary file and a rename.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
