// Package tmsync is the sync engine: it reads a release (package manifest), verifies every
// image's attestation (package attest), ensures the target repositories (package
// ecrtarget, or none for a plain registry), copies each image with containers/image so
// that its digest is preserved, and reports what happened to every image.
//
// Use: make a Target (NewECRTarget, NewRegistryTarget, or your own) and an Attestor
// (NewAttestor over an attest.Client and attest.Verifier, or your own wrapping it), then
// an Engine with New and functional options (WithSource, WithConcurrency, WithRetries,
// WithScanGate, WithObserver, WithLogger, ...; each states its default). Run Plan, Sync
// or Verify with a Release (ReleaseDir or ReleaseFolder): the Report says what happened
// to every image, and an error, a *StartError, says why a run could not start. An Engine
// is immutable: reuse it, and run several releases at once from several goroutines.
//
// The package is a library: it reads no flag and no environment variable and writes to no
// terminal or global stream. It logs through an injected *slog.Logger (discarded by
// default) and reports progress through an Observer; the report is written with
// Report.EncodeJSON, EncodeJUnit, EncodeErrorLog and EncodeSummary, or WriteFileAtomic.
// Every event, log record, report field and error of a run passes through one Redactor,
// which removes the secrets it knows and escapes control characters. The command line,
// with its flags, console and exit statuses, is cmd/tmsync.
package tmsync
