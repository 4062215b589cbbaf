#!/usr/bin/env bash
# Installs the programs the integration tests start, when they are missing and this user
# can install them: the CNCF distribution registry, gpg, skopeo, moto_server (Python moto) and
# cosign (go install; minutes the first time: the evidence tests run `cosign verify`).
# With TMSYNC_INTEGRATION=require a piece that cannot be installed is an error.
set -u
missing_pkgs=()
command -v docker-registry >/dev/null 2>&1 || missing_pkgs+=(docker-registry)
command -v gpg >/dev/null 2>&1 || missing_pkgs+=(gnupg)
command -v python3 >/dev/null 2>&1 || missing_pkgs+=(python3)
# skopeo: the bundle tests read tmsync's OCI layouts with it (another tool's reading).
command -v skopeo >/dev/null 2>&1 || missing_pkgs+=(skopeo)

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${missing_pkgs[*]}"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null || true
  else
    echo "deps: missing ${missing_pkgs[*]} (install them with apt-get as root)"
  fi
fi

if ! command -v moto_server >/dev/null 2>&1; then
  echo "deps: moto_server missing; trying pip install 'moto[server]'"
  python3 -m pip install -q 'moto[server]' >/dev/null 2>&1 || true
  command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
fi

# cosign: the evidence tests (issue 19) check tmsync's signatures with the real one. The
# script skips when it is installed already (PATH or $(go env GOPATH)/bin).
cosign_ok=1
if ! bash "$(dirname "$0")/install-cosign.sh"; then
  cosign_ok=0
fi
gobin="$(go env GOPATH 2>/dev/null)/bin"
if ! command -v cosign >/dev/null 2>&1 && [ ! -x "$gobin/cosign" ]; then
  cosign_ok=0
fi

fail=0
for p in docker-registry gpg moto_server skopeo; do
  if ! command -v "$p" >/dev/null 2>&1; then
    echo "deps: $p is not available; integration tests that need it will skip"
    fail=1
  fi
done
if [ "$cosign_ok" = 0 ]; then
  echo "deps: cosign is not available; the evidence tests that run it will skip"
  fail=1
fi
if [ "$fail" = 1 ] && [ "${TMSYNC_INTEGRATION:-}" = require ]; then
  echo "deps: TMSYNC_INTEGRATION=require and a piece is missing" >&2
  exit 1
fi
exit 0
