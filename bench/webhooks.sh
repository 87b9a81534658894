#!/usr/bin/env bash
# Webhook ingestion: the project's `orchestrator serve` (durable journal: WAL,
# synchronous=FULL, group commit) side by side with the shared harness's references
# (limit, gidgethub-minimal, probot) in one run. Prints the harness's table, then the
# server's own start/stop records (journal pragmas, group commit, RSS after the run) and
# what each round's journal holds. Rows: `ours` is `orchestrator serve` as shipped (its
# `/ao` command handler asks only for comments that mention `/ao`, which the bench's does
# not); `ours+handler` adds an unfiltered no-op issue_comment.created handler, as
# gidgethub-minimal has: every delivery parsed and dispatched.
#
#   bench/webhooks.sh                 # ROUNDS, DURATION, WARMUP, ... pass through to the harness
#
# The harness's wrk script numbers deliveries per thread from 1 in every wrk invocation, so
# the warm-up, the measured run and the one-connection run reuse the same delivery ids. A
# server that deduplicates (as ours must) would answer most of the later ones from its cheap
# "already journaled" path. We run a copy of the harness whose ids also carry the wrk
# invocation's start time, for every target alike, so every measured delivery is new.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$PROJECT/../shared/bench/webhooks}
OUTDIR=${OUTDIR:-$PROJECT/bench/results}
[ -x "$PROJECT/.venv/bin/orchestrator" ] || {
  echo "bench: install the project first (./scripts/test, or pip install -e . into .venv)" >&2
  exit 2
}
mkdir -p "$OUTDIR"
"$HARNESS/setup.sh" > /dev/null

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$HARNESS/." "$WORK/harness"
sed -i \
  -e 's/^function init(args)$/function init(args)\n  run = os.time() % 65536/' \
  -e 's/"%08x-0000-4000-8000-%012x", tid, n/"%08x-%04x-4000-8000-%012x", tid, run, n/' \
  "$WORK/harness/webhook.lua"
grep -q '%04x-4000' "$WORK/harness/webhook.lua" || { echo "bench: could not patch webhook.lua" >&2; exit 1; }

TARGET="ours | 18090 | /webhooks | cd $PROJECT && GITHUB_WEBHOOK_SECRET=\$WEBHOOK_SECRET ORCHESTRATOR_DATA_DIR=$WORK/data/\$\$ exec $PROJECT/.venv/bin/orchestrator serve --port \$PORT"
WITH_HANDLER="ours+handler | 18091 | /webhooks | cd $PROJECT && GITHUB_WEBHOOK_SECRET=\$WEBHOOK_SECRET ORCHESTRATOR_DATA_DIR=$WORK/data/\$\$ exec $PROJECT/.venv/bin/python -m bench.serve_with_handler \$PORT"
OUT="$OUTDIR/RESULTS.md" LOGDIR="$OUTDIR/logs" "$WORK/harness/run.sh" "$WORK/harness/targets.conf" "$TARGET" "$WITH_HANDLER"

echo
echo "## ours, ours+handler: the servers' own records of their last round"
grep -hE '"intake (started|stopped)"' "$OUTDIR/logs/ours.log" "$OUTDIR/logs/ours+handler.log"
for db in "$WORK"/data/*/journal.sqlite3; do
  "$PROJECT/.venv/bin/python" - "$db" << 'PY'
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
states = dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
print(f"journal of one round: {sum(states.values())} deliveries journaled, by state {states},"
      f" journal_mode={mode}")
PY
done
