// Package tmsync is the module root of tmsync, which puts a Thought Machine Vault release
// into a bank's own Amazon ECR (or any OCI registry), byte for byte, after checking the
// vendor's signed attestation of every image digest.
//
// The module is a library with a thin command line:
//
//   - [github.com/tmsync/tmsync/manifest] reads a release folder (release.json, *images.txt)
//     into the list of images to sync; it does no network I/O.
//   - [github.com/tmsync/tmsync/attest] fetches Grafeas attestations and verifies their
//     OpenPGP signatures, bound to the image's digest and repository.
//   - [github.com/tmsync/tmsync/ecrtarget] creates and reconciles ECR repositories and hands
//     out registry credentials.
//   - [github.com/tmsync/tmsync/tmsync] is the engine that joins them: plan, verify, copy
//     with containers/image, and report.
//   - cmd/tmsync is the command line (package cmd/tmsync/app: flags, console, exit
//     statuses, AWS configuration, the vendor token); examples/ holds runnable programs.
//
// Dependencies point one way: manifest and attest are leaves, ecrtarget depends only on the
// AWS SDK, the engine on all three and on containers/image, the command line on the engine.
package tmsync
