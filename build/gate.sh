#!/usr/bin/env bash
# gate.sh SYNC_ERROR_LOG VERIFY_ERROR_LOG VERIFY_EXIT_STATUS
# The verify stage's decision: exit 0 only when the sync error log exists and is empty,
# tmsync verify exited 0 and its error log is empty. Prints why it fails.
set -u
sync_log=$1 verify_log=$2 verify_rc=$3
fail=0
if [ ! -f "$sync_log" ]; then
  echo "GATE: FAIL: $sync_log from the sync stage is missing"
  fail=1
elif [ -s "$sync_log" ]; then
  echo "GATE: FAIL: $sync_log is not empty ($(wc -l < "$sync_log") line(s)); first lines:"
  head -n 50 "$sync_log"
  fail=1
fi
if [ "$verify_rc" != 0 ]; then
  echo "GATE: FAIL: tmsync verify exited $verify_rc"
  fail=1
fi
if [ -s "$verify_log" ]; then
  echo "GATE: FAIL: $verify_log is not empty ($(wc -l < "$verify_log") line(s)); first lines:"
  head -n 50 "$verify_log"
  fail=1
fi
if [ "$fail" = 0 ]; then
  echo "GATE: PASS: sync-error.log empty, every image verified in ECR"
fi
exit "$fail"
