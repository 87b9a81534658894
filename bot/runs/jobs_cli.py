"""`orchestrator jobs list|show|cancel`: the job queue as an operator sees it."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from typing import Any, TextIO

import orjson

from bot.moments import utc
from bot.runs import jobstore
from bot.runs.jobs import Job
from bot.runs.states import RUN_STATES
from bot.settings import Settings


def add_parser(commands: Any) -> None:
    """Add `jobs` to the `orchestrator` command's subparsers."""
    jobs = commands.add_parser("jobs", help="inspect and cancel the runner's jobs")
    jobs.add_argument("--data-dir", help="queue location (ORCHESTRATOR_DATA_DIR)")
    actions = jobs.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="newest jobs first")
    ls.add_argument("--state", choices=RUN_STATES)
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one job, by number or key")
    show.add_argument("ref")
    cancel = actions.add_parser(
        "cancel", help="cancel a job: at once if it waits, at its next step if it runs"
    )
    cancel.add_argument("ref")


def jobs(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    path = settings.jobs_path
    if not path.exists():
        print(f"orchestrator: no job queue at {path} (set ORCHESTRATOR_DATA_DIR or --data-dir)",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        conn = jobstore.connect(path)
    except jobstore.QueueError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1
    try:
        return _jobs(conn, args, out)
    except sqlite3.DatabaseError as exc:
        print(f"orchestrator: job queue {path} cannot be read ({exc})", file=sys.stderr)
        return 1
    finally:
        conn.close()


def _jobs(conn: sqlite3.Connection, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "list":
        found = jobstore.listing(conn, args.state, args.limit)
        if args.json:
            out.writelines(orjson.dumps(as_dict(job)).decode() + "\n" for job in found)
        else:
            out.write(_table(found))
        return 0
    job = jobstore.find(conn, args.ref)
    if job is None:
        print(f"orchestrator: no job {args.ref!r} in the queue", file=sys.stderr)
        return 1
    if args.action == "show":
        for key, value in as_dict(job).items():
            if isinstance(value, dict):
                value = orjson.dumps(value).decode() if value else ""
            out.write(f"{key:>16}: {'' if value is None else value}\n")
        return 0
    try:
        conn.execute("BEGIN IMMEDIATE")
        job = jobstore.cancel(conn, job.id, time.time())
        conn.execute("COMMIT")
    except ValueError as exc:
        conn.execute("ROLLBACK")
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1
    if job.state == "cancelled":
        out.write(f"job {job.id} cancelled\n")
    else:
        out.write(f"job {job.id} is running: it stops at its run's next step boundary\n")
    return 0


def as_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "key": job.key,
        "repository": job.repository,
        "workflow": job.workflow,
        "state": job.state,
        "attempts": job.attempts,
        "step": job.progress,
        "cancel_requested": job.cancel_requested,
        "checkout": job.checkout,
        "llm": job.llm,
        "overrides": job.overrides,
        "created_at": utc(job.created_at),
        "started_at": utc(job.started_at),
        "finished_at": utc(job.finished_at),
        "lease_owner": job.lease_owner if job.state == "running" else None,
        "lease_expires": utc(job.lease_expires),
        "worker_pid": job.worker_pid,
        "escalation": job.escalation,
        "error": job.error,
    }


def _detail(job: Job) -> str:
    """What a person wants to know first: the error, the question, or the step at work."""
    if job.state in ("failed", "cancelled"):
        return job.error or ""
    if job.state == "paused" and job.escalation:
        return f"waiting for a person: {job.escalation.get('question') or job.escalation}"
    return job.progress or ""


def _table(found: list[Job]) -> str:
    if not found:
        return "no jobs\n"
    header = ["ID", "REPOSITORY", "WORKFLOW", "STATE", "TRIES", "CREATED (UTC)", "DETAIL"]
    rows = [header] + [
        [
            str(job.id),
            job.repository,
            job.workflow,
            job.state
            + (" (cancelling)" if job.cancel_requested and job.state == "running" else ""),
            str(job.attempts),
            utc(job.created_at) or "",
            _detail(job)[:70],
        ]
        for job in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in rows
    )
