#!/usr/bin/env bash
# Webhook ingestion: the project's `orchestrator serve` (durable journal: WAL,
# synchronous=FULL, group commit) side by side with the shared harness's references
# (limit, gidgethub-minimal, probot) in one run. Prints the harness's table, then the
# journal's pragmas, group-commit ratio and the server's RSS after the run.
#   bench/webhooks.sh            # ROUNDS, DURATION, ... pass through to the harness
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$PROJECT/../shared/bench/webhooks}
OUTDIR=${OUTDIR:-$PROJECT/bench/results}
mkdir -p "$OUTDIR"
[ -x "$PROJECT/.venv/bin/orchestrator" ] || {
  echo "bench: install the project first (scripts/test or pip install -e .)" >&2; exit 2; }
"$HARNESS/setup.sh" >/dev/null

DATA=$(mktemp -d)
TARGET="ours | 18090 | /webhooks | cd $PROJECT && GITHUB_WEBHOOK_SECRET=\$WEBHOOK_SECRET ORCHESTRATOR_DATA_DIR=$DATA/\$\$ ORCHESTRATOR_LOG_LEVEL=\${BENCH_LOG_LEVEL:-INFO} exec $PROJECT/.venv/bin/orchestrator serve --port \$PORT"
OUT="$OUTDIR/RESULTS.md" LOGDIR="$OUTDIR/logs" "$HARNESS/run.sh" "$HARNESS/targets.conf" "$TARGET"
echo
echo "## ours: the server's own start and stop records (last round)"
grep -E '"intake (started|stopped)"' "$OUTDIR/logs/ours.log" | tail -2
for db in "$DATA"/*/journal.sqlite3; do
  "$PROJECT/.venv/bin/python" - "$db" <<'PY'
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
total, done = conn.execute("SELECT count(*), sum(state = 'done') FROM deliveries").fetchone()
mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
print(f"journal {sys.argv[1]}: {total} deliveries journaled, {done} done, journal_mode={mode}")
PY
done
rm -rf "$DATA"
