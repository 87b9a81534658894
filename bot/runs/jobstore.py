"""The job queue's schema and its records: plain functions over a `sqlite3.Connection`.

The runner calls them on the queue's own thread (never on the event loop); the operator CLI
calls them directly. Who runs what (claims, leases, outcomes) is in bot/runs/leases.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

from bot.runs.jobs import Job, JobSpec
from bot.runs.states import FINISHED, run_state

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY,
    key              TEXT NOT NULL UNIQUE,
    repository       TEXT NOT NULL,
    workflow         TEXT NOT NULL,
    checkout         TEXT NOT NULL,
    llm              TEXT,
    overrides        TEXT NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL DEFAULT 'queued',
    attempts         INTEGER NOT NULL DEFAULT 0,
    not_before       REAL NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires    REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    answer           TEXT,
    progress         TEXT,
    escalation       TEXT,
    error            TEXT,
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    worker_pid       INTEGER,
    home             TEXT,  -- JSON: the issue a run started from (bot/runs/github_home.py)
    branch           TEXT,  -- its branch on GitHub, once the runner has prepared it
    budget_usd       REAL,  -- a person's budget for the run (/ao budget), over the config's
    paused_by        TEXT,  -- who asked the run to pause at its next step boundary
    cancelled_by     TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, repository, id);
-- Fairness: the claim counter value at each repository's latest claim (counted, not timed).
CREATE TABLE IF NOT EXISTS turns (repository TEXT PRIMARY KEY, turn INTEGER NOT NULL);
-- People's answers to escalations, one per command comment (bot/runs/steerstore.py).
CREATE TABLE IF NOT EXISTS answers (
    comment    TEXT PRIMARY KEY,
    job_id     INTEGER NOT NULL,
    escalation INTEGER NOT NULL,  -- its number in the run's checkpoint
    issue      INTEGER,           -- the escalation issue it answered
    value      TEXT NOT NULL,     -- what the engine takes (an option's key, or the text)
    shown      TEXT NOT NULL,     -- the answer in words, for the agent and the summary
    by         TEXT NOT NULL,
    at         REAL NOT NULL
);
"""

_COLUMNS = (
    "id, key, repository, workflow, checkout, llm, overrides, state, attempts, lease_owner,"
    " lease_token, lease_expires, cancel_requested, answer, progress, escalation, error,"
    " created_at, started_at, finished_at, worker_pid, home, branch, budget_usd, paused_by,"
    " cancelled_by"
)
#: Columns later schema versions added, for a queue file an older release made.
_ADDED = {"branch": "TEXT", "budget_usd": "REAL", "paused_by": "TEXT", "cancelled_by": "TEXT"}


class QueueError(Exception):
    """The queue file cannot be used as it is; the message says why and what to do."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating, owner-only) the queue durably: WAL, every commit fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite's -wal/-shm follow it
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise QueueError(f"job queue {path} could not switch to WAL (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise QueueError(
                f"job queue {path} has schema version {version}, newer than this release"
                f" ({SCHEMA_VERSION}); upgrade the orchestrator"
            )
        conn.executescript(_SCHEMA)
        present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED.items():
            if column not in present:
                conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise QueueError(
            f"job queue {path} cannot be read ({exc}); it was left as it is: move it aside to"
            " start with an empty queue, or restore it from a backup"
        ) from exc
    except QueueError:
        conn.close()
        raise
    return conn


def _row(row: tuple[object, ...]) -> Job:
    values = list(row)
    values[6] = json.loads(str(values[6]))
    values[7] = run_state(str(values[7]))
    values[12] = bool(values[12])
    values[15] = json.loads(str(values[15])) if values[15] is not None else None
    values[21] = json.loads(str(values[21])) if values[21] is not None else None
    return Job(*values)  # type: ignore[arg-type]


def get(conn: sqlite3.Connection, job_id: int) -> Job | None:
    """A job by its number."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _row(row) if row else None


def enqueue(conn: sqlite3.Connection, spec: JobSpec, now: float) -> tuple[Job, bool]:
    """Queue `spec`; the job its key already names, and False, if it was queued before."""
    row = conn.execute(
        "INSERT INTO jobs (key, repository, workflow, checkout, llm, overrides, created_at,"
        " home) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
        (spec.key, spec.repository, spec.workflow, spec.checkout, spec.llm,
         json.dumps(spec.overrides, sort_keys=True), now,
         json.dumps(spec.home, sort_keys=True) if spec.home is not None else None),
    ).fetchone()  # fmt: skip
    if row is not None:
        job = get(conn, row[0])
        assert job is not None
        return job, True
    existing = find(conn, spec.key)
    assert existing is not None
    return existing, False


def cancel(conn: sqlite3.Connection, job_id: int, now: float) -> Job:
    """Cancel a job: at once if it is not running, else at its run's next step boundary.
    LookupError for an unknown id; ValueError if it has finished."""
    job = get(conn, job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job.state in FINISHED:
        raise ValueError(f"job {job_id} has already finished ({job.state})")
    if job.state == "running":
        conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
    else:
        conn.execute(
            "UPDATE jobs SET state = 'cancelled', cancel_requested = 1, finished_at = ?"
            " WHERE id = ?",
            (now, job_id),
        )
    updated = get(conn, job_id)
    assert updated is not None
    return updated


def answer(conn: sqlite3.Connection, job_id: int, text: str) -> Job:
    """A person's answer to the escalation a job paused on: it is queued again to go on."""
    job = get(conn, job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job.state != "paused":
        raise ValueError(f"job {job_id} is {job.state}, not paused: there is nothing to answer")
    conn.execute(
        "UPDATE jobs SET state = 'queued', answer = ?, not_before = 0 WHERE id = ?",
        (text, job_id),
    )
    return dataclasses.replace(job, state="queued", answer=text)


def find(conn: sqlite3.Connection, ref: str | int) -> Job | None:
    """A job by its number, or by its key."""
    if isinstance(ref, int) or ref.isdigit():
        job = get(conn, int(ref))
        if job is not None:
            return job
    row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE key = ?", (str(ref),)).fetchone()
    return _row(row) if row else None


def listing(conn: sqlite3.Connection, state: str | None, limit: int) -> list[Job]:
    """The newest jobs first, optionally in one state."""
    where, params = ("WHERE state = ?", (state,)) if state else ("", ())
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [_row(row) for row in rows]


def prune_finished(conn: sqlite3.Connection, older_than: float) -> list[int]:
    """Forget jobs that finished before `older_than`; their ids, to remove their folders."""
    rows = conn.execute(
        "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished_at < ?"
        " RETURNING id",
        (older_than,),
    ).fetchall()
    return [row[0] for row in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
