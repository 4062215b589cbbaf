// Package bundle is tmsync's air-gapped transfer: a release exported once, on the side
// that reaches the vendor, into a self-describing folder (or tar, or split tar parts),
// carried across, verified offline and imported without the vendor.
//
// It is public, not internal, so that a bank's own tooling can verify a bundle (Open,
// Verify, Summary) without tmsync's CLI; it does not import package tmsync, which wires
// it into `tmsync export`, `sync --from-bundle` and `bundle verify`.
//
// # What a bundle holds
//
// One OCI image layout (oci-layout, index.json, blobs/sha256/...) written through
// internal/blobstore, so every blob enters verified and a rerun of an interrupted export
// fetches only what is missing; every image of the release (every platform of an index)
// named by its destination (org.opencontainers.image.ref.name = "repo:tag") with its
// source reference in AnnotationSource; the release folder's files under release/, byte
// for byte; the attestation occurrences (attest.WriteBundle) in attestations.json;
// bundle.json (Manifest: tool version, releases, images with their blobs, the sha256 and
// size of every file) and SHA256SUMS (`sha256sum -c` format, bundle.json included).
// docs/bundle.md is the format's reference.
//
// # Trust
//
// bundle.json and SHA256SUMS catch transport damage and careless edits; they are not
// signed, and an attacker who rewrites both is caught by what is: each image's manifest
// digest is vouched for by the vendor's attestation, verified with the operator's key
// (never a key found in the bundle), and every blob is named by its digest and checked
// as it is read. The layout's index.json must agree with bundle.json entry for entry (one
// entry per name, the recorded digest, size, type and source), and the source handed
// to copy.Image yields the verified digest or fails before anything is pushed: the oci:
// transport itself takes the first entry of a name and does not check its digest. The
// release folder is unsigned, as it is for a registry-sourced sync; the release pin
// (--release-sha256) covers it. Open computes its digest from the files (Summary.ReleaseSHA256)
// and refuses a bundle.json that claims another; an attacker who rewrites the claim as
// well is caught only by the pin.
//
// # Results and exit statuses
//
// Open fails with ErrUnreadable (exit 2) only when the bundle cannot be used at all:
// bundle.json or SHA256SUMS unreadable, an unsafe or sparse tar entry, or files that
// passed their checks but contradict bundle.json (index.json, the release digest).
// Otherwise Verify returns a per-image verdict: an image whose files are missing,
// truncated or altered, or whose attestation does not verify, is refused with a message
// naming the file and digest (exit 1); the others proceed. A problem with a file every
// image depends on (index.json, attestations.json, a release file, bundle.json against
// SHA256SUMS) refuses every image.
//
// # A tar is extracted, not read in place
//
// The oci: transport of containers/image reads blobs by path, so a tar is extracted
// into a temporary folder while each file is hashed (one pass over the stream, memory
// bounded). A member is written only if its tar size is the size bundle.json records,
// and never past it, so the extraction is bounded by bundle.json's sizes. The alternative, a source that seeks inside an uncompressed tar, saves the
// disk copy but not the read, needs its own ImageSource, and does not work on split
// parts or a pipe. The benchmark measures the extraction.
//
// # Incremental bundles
//
// With WithSince, layers the previous release carried are left out and listed
// as external; manifests and configs are always carried (copy.Image reads both).
// CheckExternal asks the target (Has) or earlier bundles for them before anything is
// pushed, and ImageReference reads them from earlier bundles when given.
//
// # Wiring into the engine and CLI
//
// export (after verifying every image's attestation as sync does; BYO images with
// Attested false):
//
//	prev, _ := bundle.ReadPrevious(since) // or bundle.PreviousFromImages for a release folder
//	m, stats, err := bundle.Export(ctx, dir, images, bundle.WithRelease(dir, files),
//		bundle.WithReleases(versions...), bundle.WithReleaseSHA256(sha),
//		bundle.WithAttestations(attest.Bundle{Occurrences: used}, fingerprints...),
//		bundle.WithToolVersion(tmsync.Version), bundle.WithSince(prev), bundle.WithSystemContext(srcSys))
//	if toTar { parts, err := bundle.PackFile(ctx, dir, tarPath, splitSize) } // dir: a temporary folder
//
// bundle verify and sync --from-bundle:
//
//	b, err := bundle.Open(ctx, path, bundle.WithTempDir(tmp))  // err: bundle.ExitCode(err) == 2
//	defer b.Close()
//	sum := b.Verify(ctx, verifier, bundle.WithAllowUnattested(byoPolicy))
//	missing, err := b.CheckExternal(ctx, target, earlier...) // before any push; non-empty: stop
//	release folder: manifest.Load(b.ReleaseDir(), opts...)
//	per image: res, _ := b.Result(dest.String()); if !res.OK → refused (res.Err), else
//	src, _ := b.ImageReference(dest.String(), earlier...) → copy.Image source
//	exit status: sum.ExitCode() (0/1), or 2 from Open
//
// tmsync wires it so: tmsync.Exporter (export), tmsync.WithImageSource and
// tmsync.NewBundleAttestor (sync --from-bundle), cmd/tmsync/app/bundle.go (the flags).
//
// It does not own: attestation fetching and policy (the engine verifies before Export,
// and passes its BYO policy to Verify), reading release folders (package manifest),
// pushing (the engine copies from ImageReference), or any flag.
package bundle
