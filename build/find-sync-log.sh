#!/usr/bin/env bash
# find-sync-log.sh SYNC_ARTIFACT_DIR BUCKET RUN_ID DEST
# Puts this run's sync-error.log at DEST: from the sync stage's artifact (single build: at
# its root; sharded batch with combined artifacts: under fanin/), else from
# s3://BUCKET/runs/RUN_ID/sync-error.log. Finding none leaves DEST absent (gate.sh fails).
set -u
dir=$1 bucket=$2 run=$3 dest=$4
for c in "$dir/sync-error.log" "$dir/fanin/sync-error.log"; do
  if [ -n "$dir" ] && [ -f "$c" ]; then
    cp "$c" "$dest"
    echo "sync-error.log from the sync artifact ($c)"
    exit 0
  fi
done
if [ -n "$bucket" ] && aws s3 cp --only-show-errors "s3://$bucket/runs/$run/sync-error.log" "$dest"; then
  echo "sync-error.log from s3://$bucket/runs/$run/"
  exit 0
fi
rm -f "$dest"
echo "sync-error.log of run $run not found"
exit 0
