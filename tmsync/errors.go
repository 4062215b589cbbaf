package tmsync

import "errors"

// Sentinel errors. Attestor implementations wrap their errors so that errors.Is finds one
// of the first three; the engine branches on them.
var (
	// ErrNotAttested: no attestation exists for the image at all.
	ErrNotAttested = errors.New("no attestation for this image")
	// ErrAttestationRejected: attestations exist and were checked, and none holds.
	ErrAttestationRejected = errors.New("attestation rejected")
	// ErrAttestationUnavailable: the attestations could not be checked (network, auth).
	ErrAttestationUnavailable = errors.New("attestation could not be checked")

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
