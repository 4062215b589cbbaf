#!/usr/bin/env bash
# `make bench`: installs the peers, builds tmsync, runs the benchmark.
# Arguments go to the bench program, e.g. `bash bench/run.sh -quick` or
# `make bench BENCHFLAGS=-quick`. Results: docs/benchmarks.md and docs/benchmarks.json
# (bench/out/ in quick mode).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
# The build tags come from the Makefile, the one place that keeps them.
TAGS=${TAGS:?run this through make bench, which passes the build tags}
mkdir -p bench/out
log=bench/out/install-peers.log
bash bench/install-peers.sh 2>&1 | tee "$log"
if [ -f cmd/tmsync/main.go ]; then
  make --no-print-directory build
fi
$GO build -tags "$TAGS" -o bench/out/tmsync-bench ./bench/cmd/tmsync-bench
exec bench/out/tmsync-bench -install-log "$log" "$@"
