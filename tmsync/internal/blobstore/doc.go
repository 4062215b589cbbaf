// Package blobstore is tmsync's run-local, content-addressed blob store: an OCI image
// layout on disk (oci-layout, index.json, blobs/<alg>/<hex>) that holds the blobs a run
// fetched from the vendor, so that each distinct blob crosses the vendor link at most
// once per run, and so that the air-gap bundle can reuse the same files and format.
//
// # What goes in
//
// A blob enters only verified: it is written to a temporary file under ingest/, its
// size and digest are checked, and only then is it renamed to blobs/<alg>/<hex>. A
// partial or wrong file never becomes visible under blobs/. No fsync: the store is a
// cache, and a blob torn by a crash is caught by the verification on reuse (below).
//
// Writers of the same digest are coalesced: Begin hands the first caller a Writer and
// makes the others wait until it commits (they then read the file) or aborts (one of
// them becomes the writer).
//
// The store is bounded: a Writer reserves its blob's size against Options.MaxBytes and
// Begin refuses with ErrFull when the blob does not fit. The caller then streams the
// blob without keeping it.
//
// # Lifetime and reuse
//
// Open with an empty Options.Dir makes a temporary folder that Close removes. With a
// Dir (tmsync's --cache-dir) the folder is kept, and a later run reuses what is there:
// a rerun after a crash does not pull again the blobs already stored. A blob found on
// disk at Open was verified when it was written, but the files may have been torn by a
// crash (no fsync) or changed since, so the first Open of a reused blob in a run hashes
// it once before serving it; a blob that does not match is removed and reported as
// absent (the caller fetches it again). Blobs written in this run are not hashed again.
// Leftover ingest files are removed at Open.
//
// One Store at a time per Dir, since Open clears ingest/: Open takes an exclusive,
// non-blocking flock on Dir/tmsync.lock, held until Close (the kernel drops it when the
// process dies, so a crash leaves no stale lock; the file stays), and a second Open, in
// this process or another, fails at once with ErrLocked, naming the pid the holder wrote
// into the lock file (informative only). The lock is advisory: it keeps tmsync runs apart,
// not other programs. On a platform without flock (none that tmsync ships for) there is no
// lock; on a file system that refuses locks (ENOLCK, ENOTSUP: NFS without a lock daemon)
// the store opens unlocked and Unlocked says why.
//
// Open refuses, leaving the folder as it was, a Dir that exists, is not empty (a lock file
// and a file system's lost+found aside) and holds no oci-layout (ErrNotStore: a typo such as the home folder must not become a layout, nor
// lose its ingest/ folder), and a store whose ingest, blobs or blobs/<alg> (or oci-layout,
// tmsync.lock) is a symbolic link or not of its kind (ErrUnsafeLayout: the clear-out and
// the writes would follow it out of the folder). Dir itself may be a link. A blob file
// that is a link is not a blob (ignored at Open) and is never opened through (O_NOFOLLOW),
// so a link put there later is not served either.
//
// The layout's index.json is written empty when the store is created (the air-gap bundle,
// package bundle, writes its own).
//
// The package knows nothing of registries, containers/image or tmsync's engine.
package blobstore
