#!/usr/bin/env bash
# Installs the peers `make bench` compares tmsync with, when they are missing:
#   skopeo (Debian package), crane and regsync (go install into GOPATH/bin).
# Prints how long each install took. Set BENCH_PEERS_VERSION_CRANE / _REGSYNC to pin.
set -u
GO=${GO:-go}
GOBIN_DIR=$($GO env GOPATH)/bin
export PATH="$PATH:$GOBIN_DIR"
crane_v=${BENCH_PEERS_VERSION_CRANE:-latest}
regsync_v=${BENCH_PEERS_VERSION_REGSYNC:-latest}
fail=0

timed() { # name cmd...
  local name=$1; shift
  local t0 ms
  t0=$(date +%s%N)
  if "$@"; then
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf 'install-peers: %s installed in %d.%01d s\n' "$name" $((ms / 1000)) $(((ms % 1000) / 100))
  else
    echo "install-peers: installing $name failed" >&2
    fail=1
  fi
}

apt_skopeo() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: skopeo missing; install it with: apt-get install skopeo" >&2
    return 1
  fi
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo >/dev/null
}

if command -v skopeo >/dev/null 2>&1; then
  echo "install-peers: skopeo present ($(skopeo --version 2>/dev/null))"
else
  timed skopeo apt_skopeo
fi
if command -v crane >/dev/null 2>&1; then
  echo "install-peers: crane present ($(command -v crane))"
else
  timed crane "$GO" install "github.com/google/go-containerregistry/cmd/crane@$crane_v"
fi
if command -v regsync >/dev/null 2>&1; then
  echo "install-peers: regsync present ($(command -v regsync))"
else
  timed regsync "$GO" install "github.com/regclient/regclient/cmd/regsync@$regsync_v"
fi
command -v docker-registry >/dev/null 2>&1 || { echo "install-peers: docker-registry missing (make deps)" >&2; fail=1; }
exit $fail
