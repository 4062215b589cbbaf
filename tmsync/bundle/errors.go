package bundle

import "errors"

var (
	// ErrUnreadable: the bundle itself cannot be read (no or a malformed bundle.json or
	// SHA256SUMS, a tar that ends before them, split parts with a gap, an unsafe tar
	// entry). Nothing of it may be used; the CLI exits 2.
	ErrUnreadable = errors.New("bundle unreadable")
	// ErrUnsafeEntry: a tar entry that would write outside the bundle (an absolute path,
	// "..", a link or a device), or an entry given twice. It also matches ErrUnreadable.
	ErrUnsafeEntry = errors.New("unsafe tar entry")
	// ErrIntegrity: a file of the bundle does not match bundle.json or SHA256SUMS (missing,
	// truncated, altered). The images that need the file are refused.
	ErrIntegrity = errors.New("bundle file does not match its checksum")
	// ErrNotInBundle: no image of that name is in the bundle.
	ErrNotInBundle = errors.New("image not in the bundle")
	// ErrRefused: the image did not pass verification (integrity or attestation); see
	// its ImageResult.
	ErrRefused = errors.New("image refused")
	// ErrExists: Export found a complete bundle of another release in the folder.
	ErrExists = errors.New("folder holds another bundle")
	// ErrFolderRefused: Export cannot use the folder, and changed nothing in it: another
	// export is writing it, it is not empty and holds no OCI layout (no oci-layout
	// file), or a folder of its layout (ingest, blobs, blobs/<alg>) is a symbolic link.
	ErrFolderRefused = errors.New("bundle folder refused")
)

// unreadable wraps err as ErrUnreadable.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string   { return "bundle unreadable: " + e.err.Error() }
func (e *unreadableError) Unwrap() []error { return []error{ErrUnreadable, e.err} }

func unreadable(err error) error { return &unreadableError{err: err} }
