"""What people change in a job from GitHub: answers, pauses, resumes, retries, budgets.

Plain functions over a `sqlite3.Connection`, called inside a write transaction like the rest
of the queue's records (bot/runs/jobstore.py). Each refuses, with `SteerRefused` and words for the
person, what the job's state does not allow, and changes nothing then. A job a person sends
on again starts its count of interrupted attempts afresh: the count is of crashes in a row.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3

from bot.runs.jobs import Job
from bot.runs.jobstore import get
from bot.runs.states import FINISHED

#: Escalation points a person lifts by giving the run more (a budget, a model), not by an
#: answer the workflow takes.
LIFTED = frozenset({"budget", "model"})
#: A pause a person asked for (`/ao pause`): no question, `/ao resume` goes on.
PAUSE_POINT = "pause"


class SteerRefused(ValueError):
    """The change cannot be made to the job as it is; the message says why."""


@dataclasses.dataclass(frozen=True)
class GivenAnswer:
    """A person's answer to one escalation, recorded once per command comment."""

    comment: str
    job_id: int
    escalation: int
    issue: int | None
    value: str
    shown: str
    by: str


def _job(conn: sqlite3.Connection, job_id: int) -> Job:
    job = get(conn, job_id)
    if job is None:
        raise SteerRefused(f"there is no run {job_id}")
    return job


def _point(job: Job) -> str:
    return str((job.escalation or {}).get("point") or "")


def find_answer(conn: sqlite3.Connection, comment: str) -> GivenAnswer | None:
    row = conn.execute(
        "SELECT comment, job_id, escalation, issue, value, shown, by FROM answers"
        " WHERE comment = ?",
        (comment,),
    ).fetchone()
    return GivenAnswer(*row) if row else None


def answer_of(conn: sqlite3.Connection, job_id: int, escalation: int) -> GivenAnswer | None:
    """The answer that resumed the job from escalation number `escalation`, if any."""
    row = conn.execute(
        "SELECT comment, job_id, escalation, issue, value, shown, by FROM answers"
        " WHERE job_id = ? AND escalation = ? ORDER BY at DESC LIMIT 1",
        (job_id, escalation),
    ).fetchone()
    return GivenAnswer(*row) if row else None


def answer(conn: sqlite3.Connection, given: GivenAnswer, now: float) -> tuple[Job, bool]:
    """Record `given` and queue the job to go on: (the job, True); (the job, False) when this
    comment's answer was recorded before (a redelivery, a restart mid-way)."""
    if find_answer(conn, given.comment) is not None:
        return _job(conn, given.job_id), False
    job = _job(conn, given.job_id)
    number = (job.escalation or {}).get("number")
    if job.state != "paused" or number != given.escalation:
        raise SteerRefused(
            "this question was answered already, or the run is no longer waiting on it"
        )
    conn.execute(
        "INSERT INTO answers (comment, job_id, escalation, issue, value, shown, by, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (given.comment, given.job_id, given.escalation, given.issue, given.value, given.shown,
         given.by, now),
    )  # fmt: skip
    conn.execute(
        "UPDATE jobs SET state = 'queued', answer = ?, not_before = 0, error = NULL,"
        " attempts = 0, paused_by = NULL WHERE id = ?",  # a pause asked for: it has paused
        (given.value, given.job_id),
    )
    return _job(conn, given.job_id), True


def pause(conn: sqlite3.Connection, job_id: int, by: str, now: float) -> Job:
    """Pause the job at its next step boundary (at once when it is only queued)."""
    job = _job(conn, job_id)
    if job.state in FINISHED:
        raise SteerRefused(f"the run is {job.state}; there is nothing to pause")
    if job.state == "paused":
        raise SteerRefused("the run is paused already")
    if job.state == "running":
        conn.execute("UPDATE jobs SET paused_by = ? WHERE id = ?", (by, job_id))
    else:
        escalation = json.dumps({"point": PAUSE_POINT, "reason": f"paused by @{by}"})
        conn.execute(
            "UPDATE jobs SET state = 'paused', paused_by = ?, escalation = ? WHERE id = ?",
            (by, escalation, job_id),
        )
    return _job(conn, job_id)


def resume(conn: sqlite3.Connection, job_id: int, by: str) -> Job:
    """Go on with a job a person paused, or one its model failed (tried again); or call off
    a pause not yet reached."""
    job = _job(conn, job_id)
    if job.state == "running" and job.paused_by:
        conn.execute("UPDATE jobs SET paused_by = NULL WHERE id = ?", (job_id,))
        return _job(conn, job_id)
    if job.state != "paused":
        raise SteerRefused(f"the run is {job.state}, not paused")
    point = _point(job)
    if point == "budget":
        raise SteerRefused(
            "the run waits for more budget: an admin raises it with `/ao budget USD`"
        )
    if point not in (PAUSE_POINT, "model"):
        raise SteerRefused("the run waits for an answer to its question: `/ao answer` there")
    answer = f"resumed by @{by}" if point == "model" else None
    conn.execute(
        "UPDATE jobs SET state = 'queued', paused_by = NULL, not_before = 0, attempts = 0,"
        " answer = ? WHERE id = ?",
        (answer, job_id),
    )
    return _job(conn, job_id)


def cancel(conn: sqlite3.Connection, job_id: int, by: str, now: float) -> Job:
    """Cancel the job: at once unless it is running, else at its next step boundary."""
    job = _job(conn, job_id)
    if job.state in FINISHED:
        raise SteerRefused(f"the run is {job.state} already")
    if job.state == "running":
        conn.execute(
            "UPDATE jobs SET cancel_requested = 1, cancelled_by = ? WHERE id = ?", (by, job_id)
        )
    else:
        conn.execute(
            "UPDATE jobs SET state = 'cancelled', cancel_requested = 1, cancelled_by = ?,"
            " finished_at = ? WHERE id = ?",
            (by, now, job_id),
        )
    return _job(conn, job_id)


def retry(conn: sqlite3.Connection, job_id: int) -> Job:
    """Queue a failed or cancelled job again: it goes on from its checkpoint and branch."""
    job = _job(conn, job_id)
    if job.state not in ("failed", "cancelled"):
        raise SteerRefused(f"the run is {job.state}; only a failed or cancelled run is retried")
    conn.execute(
        "UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, cancel_requested = 0,"
        " cancelled_by = NULL, paused_by = NULL, error = NULL, escalation = NULL,"
        " finished_at = NULL, answer = NULL WHERE id = ?",
        (job_id,),
    )
    return _job(conn, job_id)


def budget(conn: sqlite3.Connection, job_id: int, usd: float, by: str) -> tuple[Job, bool]:
    """Set the run's budget; (the job, whether a budget pause was lifted by it)."""
    job = _job(conn, job_id)
    if job.state in FINISHED:
        raise SteerRefused(f"the run is {job.state}; `/ao retry` it first")
    conn.execute("UPDATE jobs SET budget_usd = ? WHERE id = ?", (usd, job_id))
    lifted = job.state == "paused" and _point(job) in LIFTED
    if lifted:
        conn.execute(
            "UPDATE jobs SET state = 'queued', answer = ?, not_before = 0, attempts = 0,"
            " paused_by = NULL WHERE id = ?",
            (f"the budget was raised to ${usd:.2f} by @{by}", job_id),
        )
    return _job(conn, job_id), lifted


def set_branch(conn: sqlite3.Connection, job_id: int, branch: str) -> None:
    conn.execute("UPDATE jobs SET branch = ? WHERE id = ?", (branch, job_id))
