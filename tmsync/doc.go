// Package tmsync is the sync engine: it reads a release (package manifest), verifies every
// image's attestation (package attest), ensures the target repositories (package
// ecrtarget, or none for a plain registry), copies each image with containers/image so
// that its digest is preserved, and writes the error log and the report.
//
// It is the only package that knows all the others. It prints nothing by itself: it logs
// through an injected *slog.Logger and reports progress through an Observer.
package tmsync
