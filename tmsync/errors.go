package tmsync

import "errors"

// Sentinel errors of the engine. An Attestor's errors are attest's: attest.ErrNoAttestation,
// attest.ErrRejected and *attest.UnavailableError (see Attestor).
var (
	// ErrTagConflict: the destination tag exists and points to another digest.
	ErrTagConflict = errors.New("destination tag points to another digest")
	// ErrDigestMismatch: what was pushed (or found) is not the digest the release pins.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrInterrupted: the run was stopped before the image was done.
	ErrInterrupted = errors.New("interrupted")
)

// StartError is an error that stopped a run before any image was processed: bad flags, a
// bad release folder, no credentials. The command line exits with status 2 on it.
type StartError struct {
	Op  string
	Err error
}

func (e *StartError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

func startErr(op string, err error) error { return &StartError{Op: op, Err: err} }
