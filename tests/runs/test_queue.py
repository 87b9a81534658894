"""The job queue on real SQLite: idempotent enqueue, limits and fairness counted, leases,
takeover, cancel, attempts, and a damaged file refused with nothing changed."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from bot.runs import jobstore, leases
from bot.runs.jobs import JobSpec, Outcome, job_dir
from bot.runs.queue import JobQueue
from bot.runs.runner import Runner, RunnerLimits


@pytest.fixture
def conn(tmp_path):
    conn = jobstore.connect(tmp_path / "jobs.sqlite3")
    yield conn
    conn.close()


def spec(key: str, repository: str = "octo/a") -> JobSpec:
    return JobSpec(key, repository, "create-prd", "/tmp/checkout", "anthropic:m", {"k": "v"})


def claim(conn, owner="runner-1", now=0.0, *, limit=3, per=1, lease=10.0, attempts=3):
    conn.execute("BEGIN IMMEDIATE")
    job = leases.claim(
        conn, owner, now, lease_s=lease, limit=limit, per_repository=per, max_attempts=attempts
    )
    conn.execute("COMMIT")
    return job


def test_enqueuing_the_same_key_twice_yields_one_job(conn):
    first, created = jobstore.enqueue(conn, spec("comment-1"), now=1.0)
    again, created_again = jobstore.enqueue(conn, spec("comment-1", "octo/other"), now=2.0)
    assert created and not created_again
    assert again == first and again.repository == "octo/a" and again.state == "queued"
    assert again.overrides == {"k": "v"}
    assert [j.key for j in jobstore.listing(conn, None, 10)] == ["comment-1"]


def test_the_queue_file_is_the_owners_alone(tmp_path):
    jobstore.connect(tmp_path / "q.sqlite3").close()
    assert stat.S_IMODE((tmp_path / "q.sqlite3").stat().st_mode) == 0o600


def test_global_and_per_repository_limits_hold(conn):
    for repo in "abcd":
        for n in range(3):
            jobstore.enqueue(conn, spec(f"{repo}{n}", f"octo/{repo}"), now=0.0)
    taken = []
    while (job := claim(conn, limit=3, per=1)) is not None:
        taken.append(job.repository)
    assert sorted(taken) == ["octo/a", "octo/b", "octo/c"]  # three at once, one per repository
    assert claim(conn, "runner-2", limit=3, per=1) is None  # the limit holds across runners
    more = []
    while (job := claim(conn, limit=10, per=2)) is not None:
        more.append(job.repository)
    assert sorted(more) == ["octo/a", "octo/b", "octo/c", "octo/d", "octo/d"]


def test_a_busy_repository_does_not_starve_another(conn):
    for n in range(20):
        jobstore.enqueue(conn, spec(f"busy-{n}", "octo/busy"), now=0.0)
    for n in range(3):
        jobstore.enqueue(conn, spec(f"quiet-{n}", "octo/quiet"), now=0.0)
    order = []
    for _ in range(10):  # one slot; each job finishes before the next is claimed
        job = claim(conn, limit=1, per=1)
        order.append(job.repository.removeprefix("octo/"))
        assert leases.finish(conn, job.id, job.lease_token, Outcome("done"), now=0.0)
    assert order[:6] == ["busy", "quiet"] * 3  # turns alternate while both have work
    assert order[6:] == ["busy"] * 4


def test_an_expired_lease_is_taken_over_and_the_old_owner_fenced_off(conn):
    job, _ = jobstore.enqueue(conn, spec("k"), now=0.0)
    mine = claim(conn, "runner-1", now=0.0, lease=10.0)
    assert mine.state == "running" and mine.attempts == 1
    assert leases.heartbeat(conn, [(job.id, mine.lease_token, "s1: one")], 5.0, 10.0) == []
    assert claim(conn, "runner-2", now=14.0) is None  # the heartbeat moved the lease to 15
    theirs = claim(conn, "runner-2", now=15.5)
    assert theirs.id == job.id and theirs.attempts == 2 and theirs.lease_owner == "runner-2"
    assert theirs.lease_token != mine.lease_token and theirs.progress == "s1: one"
    assert leases.heartbeat(conn, [(job.id, mine.lease_token, None)], 16.0, 10.0) == [job.id]
    assert not leases.finish(conn, job.id, mine.lease_token, Outcome("failed", "x"), 16.0)
    assert leases.finish(conn, job.id, theirs.lease_token, Outcome("done"), 16.0)
    done = jobstore.find(conn, job.id)
    assert done.state == "done" and done.finished_at == 16.0 and done.lease_token is None


def test_a_job_interrupted_too_often_fails_with_words_to_act_on(conn):
    job, _ = jobstore.enqueue(conn, spec("k"), now=0.0)
    for n in range(3):
        assert claim(conn, now=n * 100.0, attempts=3).attempts == n + 1
    assert claim(conn, now=1000.0, attempts=3) is None
    failed = jobstore.find(conn, job.id)
    assert failed.state == "failed" and "interrupted 3 times" in failed.error


def test_cancel_waiting_running_and_finished_jobs(conn):
    waiting, _ = jobstore.enqueue(conn, spec("w", "octo/w"), now=0.0)
    running, _ = jobstore.enqueue(conn, spec("r", "octo/r"), now=0.0)
    jobstore.enqueue(conn, spec("r2", "octo/r"), now=0.0)
    taken = claim(conn, limit=1, per=1)
    assert taken.id == waiting.id  # oldest first; take the second one too
    leases.finish(conn, taken.id, taken.lease_token, Outcome("paused", escalation={"q": 1}), 0)
    held = claim(conn, limit=1, per=1)
    assert held.id == running.id
    assert jobstore.cancel(conn, waiting.id, now=1.0).state == "cancelled"  # paused: at once
    flagged = jobstore.cancel(conn, running.id, now=1.0)
    assert flagged.state == "running" and flagged.cancel_requested
    assert leases.should_stop(conn, running.id, held.lease_token) == "cancelled"
    assert leases.should_stop(conn, running.id, "another-token") == "lease lost"
    with pytest.raises(ValueError, match="already finished"):
        jobstore.cancel(conn, waiting.id, now=2.0)
    with pytest.raises(LookupError, match="no job 99"):
        jobstore.cancel(conn, 99, now=2.0)
    # Its runner dies: the expired, cancel-requested job is settled, not run again.
    nxt = claim(conn, "runner-2", now=100.0, limit=1, per=1)
    assert jobstore.find(conn, running.id).state == "cancelled"
    assert nxt.key == "r2"


def test_a_paused_job_goes_on_with_a_persons_answer(conn):
    job, _ = jobstore.enqueue(conn, spec("k"), now=0.0)
    taken = claim(conn)
    escalation = {"question": "Which database?", "step": "s2"}
    leases.finish(conn, job.id, taken.lease_token, Outcome("paused", None, escalation), 1.0)
    paused = jobstore.find(conn, "k")
    assert paused.state == "paused" and paused.escalation == escalation
    assert paused.finished_at is None
    with pytest.raises(ValueError, match="not paused"):
        jobstore.answer(conn, jobstore.enqueue(conn, spec("other"), 0.0)[0].id, "x")
    assert jobstore.answer(conn, job.id, "SQLite").state == "queued"
    again = claim(conn, now=2.0)
    assert again.id == job.id and again.answer == "SQLite" and again.attempts == 2


def test_a_damaged_queue_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    garbage = b"this is not a database" * 300
    path.write_bytes(garbage)
    with pytest.raises(jobstore.QueueError, match=r"cannot be read.*move it aside"):
        jobstore.connect(path)
    assert path.read_bytes() == garbage


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 9")
    with pytest.raises(jobstore.QueueError, match="newer than this release"):
        jobstore.connect(path)


async def test_finished_jobs_past_retention_are_pruned_with_their_folders(tmp_path):
    clock = [1000.0]
    queue = JobQueue(tmp_path / "jobs.sqlite3", clock=lambda: clock[0])
    await queue.open()
    try:
        old, _ = await queue.enqueue(spec("old"))
        kept, _ = await queue.enqueue(spec("kept", "octo/b"))
        await queue.enqueue(spec("waiting", "octo/c"))
        for job in (old, kept):
            taken = await queue.claim("r", lease_s=10, limit=3, per_repository=1, max_attempts=3)
            assert taken.id == job.id
            await queue.finish(job.id, taken.lease_token, Outcome("done"))
            job_dir(tmp_path, job.id).mkdir(parents=True)
            clock[0] += 5000
        runner = Runner(queue, tmp_path, RunnerLimits(retention_s=6000), environ={})
        assert await runner.prune() == [old.id]  # finished 11,000 s before, the other 6,000
        assert not job_dir(tmp_path, old.id).exists() and job_dir(tmp_path, kept.id).exists()
        assert [j.key for j in await queue.listing()] == ["waiting", "kept"]
    finally:
        await queue.close()
