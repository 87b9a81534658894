"""Who runs what: claims under the limits, leases and heartbeats, and outcomes.

Every change made on behalf of a worker is fenced by the lease token it was given, so a
runner whose lease was taken over cannot overwrite the new owner's work. Call these inside a
write transaction (`BEGIN IMMEDIATE`), as `JobQueue.transaction` does.
"""

from __future__ import annotations

import json
import secrets
import sqlite3

from bot.runs.jobs import Job, Outcome
from bot.runs.jobstore import get
from bot.runs.states import FINISHED

_LIVE = "state = 'running' AND lease_expires >= :now"
# A queued job whose time has come, or a running one whose lease ran out (its runner died).
_TAKEABLE = (
    "((j.state = 'queued' AND j.not_before <= :now)"
    " OR (j.state = 'running' AND j.lease_expires < :now))"
)


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
    return get(conn, job_id)


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


def should_stop(conn: sqlite3.Connection, job_id: int, token: str) -> str | None:
    """Why a worker holding `token` must stop at this step boundary (`cancelled`,
    `cancelled:LOGIN`, `paused:LOGIN`, `lease lost`), or None to go on."""
    row = conn.execute(
        "SELECT cancel_requested, lease_token, paused_by, cancelled_by FROM jobs WHERE id = ?",
        (job_id,),
    ).fetchone()
    if row is None or row[1] != token:
        return "lease lost"
    if row[0]:
        return f"cancelled:{row[3]}" if row[3] else "cancelled"
    return f"paused:{row[2]}" if row[2] else None
