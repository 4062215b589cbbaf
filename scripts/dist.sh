#!/usr/bin/env bash
# dist.sh: the release artifact (`make dist`). Builds static, reproducible tmsync binaries
# for each platform, one CycloneDX SBOM per binary, and SHA256SUMS, into $DIST.
#
# The Makefile passes TAGS, VERSION and LDFLAGS (it is the one place for them). Same commit,
# same Go toolchain, same VERSION => the same bytes, wherever the checkout sits:
#   -trimpath        no local paths in the binary
#   -buildvcs=false  no VCS stamp (it would record "dirty" and the commit time); the version
#                    comes from -X ...Version=$VERSION (git describe) instead
#   -buildid=        no build ID (it hashes action IDs that vary with the build cache)
#   CGO_ENABLED=0    static, no C toolchain or libc in the result
# The SBOM (tmsync.cdx.json) is CycloneDX 1.6 of the module graph without test-only modules,
# made by cyclonedx-gomod `mod`, pinned below, installed with go install through the module
# proxy when missing; -noserial -notimestamp keep it reproducible too. (`cyclonedx-gomod app`
# would list per binary only the linked modules, but it insists on reading the version from
# git, which fails in a git worktree and in an exported source tree.)
set -euo pipefail
: "${TAGS:?TAGS unset (run through make dist)}" "${VERSION:?}" "${LDFLAGS:?}"
GO=${GO:-go}
DIST=${DIST:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
CYCLONEDX_GOMOD_VERSION=v1.10.0

cd "$(dirname "$0")/.."
gobin=$("$GO" env GOPATH)/bin
sbom=$gobin/cyclonedx-gomod
have=$("$sbom" version 2>/dev/null || true)
if ! grep -q "^Version:[[:space:]]*$CYCLONEDX_GOMOD_VERSION\$" <<<"$have"; then
  echo "dist: installing cyclonedx-gomod $CYCLONEDX_GOMOD_VERSION"
  GOFLAGS= GOBIN=$gobin "$GO" install "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$CYCLONEDX_GOMOD_VERSION"
fi

rm -rf "$DIST"
mkdir -p "$DIST"
# cyclonedx-gomod takes build tags through GOFLAGS, comma-separated.
tagflag="-tags=$(echo "$TAGS" | tr -s ' ' ',')"
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  out="$DIST/tmsync_${os}_${arch}"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS= "$GO" build -trimpath -buildvcs=false -tags "$TAGS" \
    -ldflags "-s -w -buildid= $LDFLAGS" -o "$out" ./cmd/tmsync
done
log=$(mktemp)
if ! GOFLAGS="$tagflag" "$sbom" mod -json -licenses -noserial -notimestamp -output "$DIST/tmsync.cdx.json" . 2>"$log"; then
  cat "$log" >&2
  rm -f "$log"
  echo "dist: cyclonedx-gomod failed" >&2
  exit 1
fi
rm -f "$log"
(cd "$DIST" && sha256sum -- tmsync_* tmsync.cdx.json > SHA256SUMS)
echo "dist: $VERSION in $DIST/"
cat "$DIST/SHA256SUMS"
