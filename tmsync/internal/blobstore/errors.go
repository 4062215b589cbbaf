package blobstore

import "errors"

var (
	// ErrNotFound: the store does not hold the blob.
	ErrNotFound = errors.New("blob not in the store")
	// ErrExists: Begin found the blob already stored; read it with Open.
	ErrExists = errors.New("blob already in the store")
	// ErrFull: the blob does not fit in Options.MaxBytes; stream it instead.
	ErrFull = errors.New("blob store full")
	// ErrDigestMismatch: what was written is not the blob announced (digest or size).
	ErrDigestMismatch = errors.New("blob does not match its digest")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("blob store closed")
	// ErrLocked: Open found the folder locked by another open store (another tmsync run,
	// or another Open in this process). Nothing in the folder was changed.
	ErrLocked = errors.New("another tmsync run is using this folder")
	// ErrNotStore: Open found a folder that is not empty and holds no oci-layout file
	// (a typo such as the home folder). Nothing in it was changed.
	ErrNotStore = errors.New("not empty and not a tmsync blob store (no oci-layout): choose an empty or new folder")
	// ErrUnsafeLayout: a folder of the store (ingest, blobs, blobs/<alg>) or its
	// oci-layout is a symbolic link or not of its kind: Open refuses to follow it or to
	// clear through it. Nothing in the folder was changed.
	ErrUnsafeLayout = errors.New("the store's folders must be real folders inside it (no symbolic links)")
)
