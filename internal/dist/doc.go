// Package dist builds the tmsync container image from the release binaries of `make dist`,
// in Go, without a Docker engine: a multi-arch OCI image index whose images hold the static
// binary, a CA bundle and a non-root user, with the OCI version, revision and source labels.
// It writes an OCI image layout and can push the index to a registry.
//
// It lives under internal/ because it is a build tool of this repository, not part of the
// tmsync library: the image library (go-containerregistry's mutate, layout and remote) stays
// out of the packages a program importing tmsync links. mkimage/ is its command (`make image`).
//
// Same binaries, same options => the same bytes, so the same index digest: the layers are tar
// streams with sorted entries, one fixed time (Options.Created, SOURCE_DATE_EPOCH) and numeric
// owners only, and the CA bundle comes from a module pinned in go.mod
// (golang.org/x/crypto/x509roots/fallback: Mozilla's NSS roots), not from the build machine.
package dist
