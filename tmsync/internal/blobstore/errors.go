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
)
