#!/usr/bin/env bash
# Installs tflint into $(go env GOPATH)/bin with `go install` (the Go module proxy is the
# only source these machines reach), unless tflint is already on PATH or there.
# Only the bundled terraform ruleset works offline: `tflint --init` (the AWS ruleset
# plugin) downloads from GitHub. Measured: ~12 min wall (4 min CPU) on a loaded 2-core box.
# TFLINT_VERSION picks a version (default: v0.64.0, the version tested here).
set -eu
gobin="$(go env GOPATH)/bin"
if command -v tflint >/dev/null 2>&1 || [ -x "$gobin/tflint" ]; then
  echo "tflint: already installed"
  exit 0
fi
echo "tflint: go install github.com/terraform-linters/tflint@${TFLINT_VERSION:-v0.64.0} (takes minutes)"
start=$(date +%s)
if go install "github.com/terraform-linters/tflint@${TFLINT_VERSION:-v0.64.0}"; then
  echo "tflint: installed in $gobin in $(( $(date +%s) - start ))s"
else
  echo "tflint: could not be installed; TestTFLint will skip" >&2
  [ "${TMSYNC_INTEGRATION:-}" = require ] && [ "${TFLINT_REQUIRED:-}" = 1 ] && exit 1
  exit 0
fi
