#!/usr/bin/env bash
# Installs cosign into $(go env GOPATH)/bin with `go install` (the Go module proxy is the
# only source these machines reach), unless cosign is already on PATH or there. The
# evidence package's interop test (TestCosignVerify) runs `cosign verify` when it finds it.
# Slow: cosign pulls Rekor, Fulcio, TUF and cloud-KMS clients; measured on a loaded 2-core
# box in the issue-19 report. COSIGN_VERSION picks a version (default: v2.6.5, tested).
set -eu
gobin="$(go env GOPATH)/bin"
if command -v cosign >/dev/null 2>&1 || [ -x "$gobin/cosign" ]; then
  echo "cosign: already installed"
  exit 0
fi
echo "cosign: go install github.com/sigstore/cosign/v2/cmd/cosign@${COSIGN_VERSION:-v2.6.5} (takes minutes)"
start=$(date +%s)
if go install "github.com/sigstore/cosign/v2/cmd/cosign@${COSIGN_VERSION:-v2.6.5}"; then
  echo "cosign: installed in $gobin in $(( $(date +%s) - start ))s"
else
  echo "cosign: could not be installed; TestCosignVerify will skip" >&2
  [ "${TMSYNC_INTEGRATION:-}" = require ] && [ "${COSIGN_REQUIRED:-}" = 1 ] && exit 1
  exit 0
fi
