"""The job queue's schema and SQL: plain functions over a `sqlite3.Connection`.

The runner calls them from its own thread (never on the event loop); the operator CLI calls
them directly. Every change made on behalf of a worker is fenced by the lease token it was
given, so a runner whose lease was taken over cannot overwrite the new owner's work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sqlite3
from pathlib import Path

from bot.runs.jobs import Job, JobSpec, Outcome
from bot.runs.states import FINISHED, run_state

SCHEMA_VERSION = 1

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
    worker_pid       INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, repository, id);
-- Fairness: the claim counter value at each repository's latest claim (counted, not timed).
CREATE TABLE IF NOT EXISTS turns (repository TEXT PRIMARY KEY, turn INTEGER NOT NULL);
"""

_COLUMNS = (
    "id, key, repository, workflow, checkout, llm, overrides, state, attempts, lease_owner,"
    " lease_token, lease_expires, cancel_requested, answer, progress, escalation, error,"
    " created_at, started_at, finished_at, worker_pid"
)
_LIVE = "state = 'running' AND lease_expires >= :now"
# A queued job whose time has come, or a running one whose lease ran out (its runner died).
_TAKEABLE = (
    "((j.state = 'queued' AND j.not_before <= :now)"
    " OR (j.state = 'running' AND j.lease_expires < :now))"
)


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
    return Job(*values)  # type: ignore[arg-type]


def _one(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _row(row) if row else None


def enqueue(conn: sqlite3.Connection, spec: JobSpec, now: float) -> tuple[Job, bool]:
    """Queue `spec`; the job its key already names, and False, if it was queued before."""
    row = conn.execute(
        "INSERT INTO jobs (key, repository, workflow, checkout, llm, overrides, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
        (spec.key, spec.repository, spec.workflow, spec.checkout, spec.llm,
         json.dumps(spec.overrides, sort_keys=True), now),
    ).fetchone()  # fmt: skip
    if row is not None:
        job = _one(conn, row[0])
        assert job is not None
        return job, True
    existing = find(conn, spec.key)
    assert existing is not None
    return existing, False


def claim(
    conn: sqlite3.Connection,
    owner: str,
    now: float,
    *,
    lease_s: float,
    limit: int,
    per_repository: int,
    max_attempts: int,
) -> Job | None:
    """Lease the next job under both limits, fairly: the repository with the fewest running
    jobs first, then the one served least recently, then the oldest job. Call it inside a
    write transaction (`BEGIN IMMEDIATE`) so two runners never take the same job."""
    _reap(conn, now, max_attempts)
    (live,) = conn.execute(f"SELECT count(*) FROM jobs WHERE {_LIVE}", {"now": now}).fetchone()
    if live >= limit:
        return None
    running = (
        "(SELECT count(*) FROM jobs r WHERE r.repository = j.repository"
        " AND r.state = 'running' AND r.lease_expires >= :now)"
    )
    row = conn.execute(
        f"SELECT j.id, j.repository FROM jobs j LEFT JOIN turns t USING (repository)"
        f" WHERE {_TAKEABLE} AND {running} < :per"
        f" ORDER BY {running}, coalesce(t.turn, 0), j.id LIMIT 1",
        {"now": now, "per": per_repository},
    ).fetchone()
    if row is None:
        return None
    job_id, repository = row
    conn.execute(
        "INSERT INTO turns (repository, turn)"
        " VALUES (?, (SELECT coalesce(max(turn), 0) + 1 FROM turns))"
        " ON CONFLICT (repository) DO UPDATE SET turn = excluded.turn",
        (repository,),
    )
    conn.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?,"
        " lease_token = ?, lease_expires = ?, started_at = coalesce(started_at, ?),"
        " worker_pid = NULL WHERE id = ?",
        (owner, secrets.token_hex(8), now + lease_s, now, job_id),
    )
    return _one(conn, job_id)


def _reap(conn: sqlite3.Connection, now: float, max_attempts: int) -> None:
    """Settle abandoned jobs that must not run again: cancelled, or out of attempts."""
    expired = "state = 'running' AND lease_expires < :now"
    conn.execute(
        f"UPDATE jobs SET state = 'cancelled', finished_at = :now, lease_token = NULL"
        f" WHERE {expired} AND cancel_requested = 1",
        {"now": now},
    )
    conn.execute(
        f"UPDATE jobs SET state = 'failed', finished_at = :now, lease_token = NULL,"
        f" error = 'the run was interrupted ' || attempts || ' times (its worker or the server"
        f" stopped without finishing it); look at the server log for why, fix that, then"
        f" start the workflow again' WHERE {expired} AND attempts >= :max",
        {"now": now, "max": max_attempts},
    )


def heartbeat(
    conn: sqlite3.Connection,
    held: list[tuple[int, str, str | None]],
    now: float,
    lease_s: float,
) -> list[int]:
    """Extend the leases of (id, token, progress) in one transaction; return the ids whose
    lease this runner no longer holds (taken over, or settled by an operator)."""
    lost = []
    for job_id, token, progress in held:
        cur = conn.execute(
            "UPDATE jobs SET lease_expires = ?, progress = coalesce(?, progress)"
            " WHERE id = ? AND lease_token = ? AND state = 'running'",
            (now + lease_s, progress, job_id, token),
        )
        if cur.rowcount == 0:
            lost.append(job_id)
    return lost


def set_worker(conn: sqlite3.Connection, job_id: int, token: str, pid: int) -> None:
    conn.execute(
        "UPDATE jobs SET worker_pid = ? WHERE id = ? AND lease_token = ?", (pid, job_id, token)
    )


def finish(conn: sqlite3.Connection, job_id: int, token: str, outcome: Outcome, now: float) -> bool:
    """Record how the run ended; False if the lease was no longer this runner's."""
    escalation = json.dumps(outcome.escalation) if outcome.escalation is not None else None
    cur = conn.execute(
        "UPDATE jobs SET state = ?, error = ?, escalation = ?, lease_token = NULL,"
        " lease_expires = NULL, worker_pid = NULL, answer = NULL,"
        " finished_at = CASE WHEN ? THEN ? ELSE NULL END"
        " WHERE id = ? AND lease_token = ? AND state = 'running'",
        (outcome.state, outcome.error, escalation, outcome.state in FINISHED, now,
         job_id, token),
    )  # fmt: skip
    return cur.rowcount == 1


def retry(
    conn: sqlite3.Connection,
    job_id: int,
    token: str,
    error: str,
    not_before: float,
    *,
    counted: bool = True,
) -> bool:
    """Queue a job again after its worker died; the checkpoint lets it go on where it was.
    An attempt the server itself cut short (a shutdown) is not `counted` against the job."""
    cur = conn.execute(
        "UPDATE jobs SET state = 'queued', error = ?, not_before = ?, lease_token = NULL,"
        " lease_expires = NULL, worker_pid = NULL, attempts = attempts - ?"
        " WHERE id = ? AND lease_token = ? AND state = 'running'",
        (error, not_before, 0 if counted else 1, job_id, token),
    )
    return cur.rowcount == 1


def cancel(conn: sqlite3.Connection, job_id: int, now: float) -> Job:
    """Cancel a job: at once if it is not running, else at its run's next step boundary.
    LookupError for an unknown id; ValueError if it has finished."""
    job = _one(conn, job_id)
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
    updated = _one(conn, job_id)
    assert updated is not None
    return updated


def answer(conn: sqlite3.Connection, job_id: int, text: str) -> Job:
    """A person's answer to the escalation a job paused on: it is queued again to go on."""
    job = _one(conn, job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job.state != "paused":
        raise ValueError(f"job {job_id} is {job.state}, not paused: there is nothing to answer")
    conn.execute(
        "UPDATE jobs SET state = 'queued', answer = ?, not_before = 0 WHERE id = ?",
        (text, job_id),
    )
    return dataclasses.replace(job, state="queued", answer=text)


def should_stop(conn: sqlite3.Connection, job_id: int, token: str) -> str | None:
    """Why a worker holding `token` must stop at this step boundary, or None to go on."""
    row = conn.execute(
        "SELECT cancel_requested, lease_token FROM jobs WHERE id = ?", (job_id,)
    ).fetchone()
    if row is None or row[1] != token:
        return "lease lost"
    return "cancelled" if row[0] else None


def find(conn: sqlite3.Connection, ref: str | int) -> Job | None:
    """A job by its number, or by its key."""
    if isinstance(ref, int) or ref.isdigit():
        job = _one(conn, int(ref))
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
