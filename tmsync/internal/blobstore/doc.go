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
// One run at a time per Dir: Open clears ingest/.
//
// The layout's index.json is written empty when the store is created (the air-gap bundle,
// package bundle, writes its own).
//
// The package knows nothing of registries, containers/image or tmsync's engine.
package blobstore
