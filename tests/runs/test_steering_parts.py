"""The pure and queue-level parts of steering runs: a question's options and issue text, an
answer picked by number, people's changes to jobs on real SQLite (each refused, changing
nothing, where the run's state does not allow it), an older queue file upgraded, and the
answer carried to the agent and into the decision log."""

from __future__ import annotations

import sqlite3

import pytest

from bot.engine.checkpoint import Checkpoint, CheckpointStore, Frame
from bot.engine.tasks import Reply, Task
from bot.runs import jobstore, leases, steerstore
from bot.runs.escalations import choice, is_question, issue_text, options_of
from bot.runs.jobs import JobSpec, Outcome
from bot.runs.publish import decision_log
from bot.runs.resumed import Told, apply_person
from bot.runs.steerstore import GivenAnswer, SteerRefused
from bot.templates import render

MENU = {
    "point": "menu",
    "question": "## MENU\n\nWho is it for?\n[1] Teams at work\n[2] Families at home\nHALT",
    "reason": "no option that carries on",
    "by": "policy",
    "step": "step-02",
    "workflow": "brief",
    "number": 1,
}
RUN = {"workflow": "brief", "issue": 7, "started_by": "mona", "run_id": "42", "branch_url": ""}


def test_options_are_numbered_and_picked_by_number_key_or_words():
    assert [(o.number, o.key, o.text) for o in options_of(MENU)] == [
        (1, "1", "Teams at work"),
        (2, "2", "Families at home"),
    ]
    assert choice(MENU, "2") == ("2", "[2] Families at home")
    assert choice(MENU, " Only   schools ") == ("Only schools", "Only schools")
    lettered = {**MENU, "question": "[A] Advanced\n[P] Party mode"}
    assert choice(lettered, "2") == ("P", "[P] Party mode")
    assert choice(lettered, "a") == ("A", "[A] Advanced")


def test_only_questions_become_issues():
    assert is_question(MENU) and not is_question(None)
    assert not is_question({"point": "budget"}) and not is_question({"point": "pause"})


def test_the_issue_says_the_question_its_context_and_how_to_answer():
    escalation = {**MENU, "value": "Teams", "read": ["steps/step-02.md:1", "docs/brief.md"]}
    title, body = issue_text(escalation, run=RUN, status_url="https://example/s")
    assert title.startswith("brief (#7) asks: ") and len(title) <= 120
    assert "1. [1] Teams at work" in body and "2. [2] Families at home" in body
    assert "`steps/step-02.md:1`, `docs/brief.md`" in body and "| Teams |" in body
    assert "`/ao answer 1`" in body and "cancels the run" in body
    assert body.endswith("<!-- ao:escalation:42.1 -->")


@pytest.fixture
def conn(tmp_path):
    conn = jobstore.connect(tmp_path / "jobs.sqlite3")
    yield conn
    conn.close()


def paused(conn: sqlite3.Connection, escalation: dict | None = None) -> int:
    job, _ = jobstore.enqueue(conn, JobSpec("k", "octo/a", "brief", "/tmp/c"), now=0.0)
    claimed = leases.claim(conn, "r", 0.0, lease_s=9, limit=3, per_repository=1, max_attempts=3)
    assert claimed is not None and claimed.lease_token is not None
    leases.finish(conn, job.id, claimed.lease_token, Outcome("paused", None, escalation or MENU), 1)
    return job.id


def test_an_answer_is_recorded_once_per_comment_and_queues_the_run(conn):
    job_id = paused(conn)
    given = GivenAnswer("c1", job_id, 1, 9, "2", "[2] Families at home", "mona")
    job, fresh = steerstore.answer(conn, given, now=2.0)
    assert fresh and job.state == "queued" and job.answer == "2" and job.attempts == 0
    again, fresh_again = steerstore.answer(conn, given, now=3.0)
    assert not fresh_again and again.state == "queued"
    assert steerstore.answer_of(conn, job_id, 1) == given
    with pytest.raises(SteerRefused):  # another comment, once the question is answered
        steerstore.answer(conn, GivenAnswer("c2", job_id, 1, 9, "1", "1", "mona"), now=4.0)


def test_steering_follows_the_runs_state_and_refuses_what_does_not_fit(conn):
    job_id = paused(conn)
    with pytest.raises(SteerRefused, match="answer"):
        steerstore.resume(conn, job_id, "mona")  # a question waits for an answer, not a resume
    with pytest.raises(SteerRefused, match="paused already"):
        steerstore.pause(conn, job_id, "mona", now=1.0)
    with pytest.raises(SteerRefused, match="only a failed or cancelled"):
        steerstore.retry(conn, job_id)
    assert steerstore.cancel(conn, job_id, "mona", now=2.0).cancelled_by == "mona"
    with pytest.raises(SteerRefused, match="cancelled already"):
        steerstore.cancel(conn, job_id, "mona", now=3.0)
    retried = steerstore.retry(conn, job_id)
    assert retried.state == "queued" and not retried.cancel_requested and retried.attempts == 0
    assert steerstore.pause(conn, job_id, "mona", now=4.0).state == "paused"  # queued: at once
    assert steerstore.resume(conn, job_id, "mona").state == "queued"


def test_a_running_run_pauses_and_cancels_at_its_next_step(conn):
    job, _ = jobstore.enqueue(conn, JobSpec("k", "octo/a", "brief", "/tmp/c"), now=0.0)
    held = leases.claim(conn, "r", 0.0, lease_s=9, limit=3, per_repository=1, max_attempts=3)
    assert held is not None and held.lease_token is not None
    assert steerstore.pause(conn, job.id, "mona", now=1.0).state == "running"
    assert leases.should_stop(conn, job.id, held.lease_token) == "paused:mona"
    assert steerstore.resume(conn, job.id, "mona").paused_by is None  # called off before it stopped
    assert leases.should_stop(conn, job.id, held.lease_token) is None
    steerstore.cancel(conn, job.id, "lisa", now=2.0)
    assert leases.should_stop(conn, job.id, held.lease_token) == "cancelled:lisa"


def test_a_model_pause_is_resumed_and_a_budget_pause_waits_for_a_budget(tmp_path):
    for point, resumable in (("model", True), ("budget", False)):
        conn = jobstore.connect(tmp_path / f"{point}.sqlite3")
        job_id = paused(conn, {"point": point, "reason": "no model", "number": 1})
        if resumable:
            job = steerstore.resume(conn, job_id, "mona")
            assert job.state == "queued" and job.answer == "resumed by @mona"
        else:
            with pytest.raises(SteerRefused, match="/ao budget"):
                steerstore.resume(conn, job_id, "mona")
        conn.close()


def test_a_budget_lifts_only_a_budget_pause(conn):
    job_id = paused(conn, {"point": "budget", "reason": "spent", "number": 1})
    job, lifted = steerstore.budget(conn, job_id, 5.0, "olga")
    assert lifted and job.state == "queued" and job.budget_usd == 5.0
    assert job.answer == "the budget was raised to $5.00 by @olga"


def test_an_older_queue_file_gets_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, repository TEXT"
        " NOT NULL, workflow TEXT NOT NULL, checkout TEXT NOT NULL, llm TEXT, overrides TEXT"
        " NOT NULL DEFAULT '{}', state TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT"
        " NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0, lease_owner TEXT, lease_token"
        " TEXT, lease_expires REAL, cancel_requested INTEGER NOT NULL DEFAULT 0, answer TEXT,"
        " progress TEXT, escalation TEXT, error TEXT, created_at REAL NOT NULL, started_at"
        " REAL, finished_at REAL, worker_pid INTEGER, home TEXT)"
    )
    old.execute("INSERT INTO jobs (key, repository, workflow, checkout, created_at)"
                " VALUES ('k', 'octo/a', 'brief', '/c', 0)")  # fmt: skip
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    conn = jobstore.connect(path)
    try:
        [job] = jobstore.listing(conn, None, 10)
        assert job.branch is None and job.budget_usd is None and job.paused_by is None
    finally:
        conn.close()


class Recording:
    """An agent that only records what it was asked."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    async def perform(self, task: Task) -> Reply:
        self.tasks.append(task)
        return Reply()


async def test_the_answer_is_told_once_to_the_work_that_writes(tmp_path, conn):
    store = CheckpointStore(tmp_path / "runs")
    store.save(Checkpoint("r1", "brief", "paused", [Frame("brief")], escalations=[dict(MENU)]))
    job_id = paused(conn)
    given = GivenAnswer("c1", job_id, 1, 9, "2", "[2] Families at home", "mona")
    job, _ = steerstore.answer(conn, given, now=2.0)
    answer, notice = apply_person(store, "r1", job, given)
    assert answer == "2" and notice is not None
    assert "Decided by @mona: [2] Families at home" in notice
    saved = store.load("r1")
    assert saved is not None and saved.escalations[-1]["decided_by"] == "mona"

    agent = Recording()
    told = Told(agent, notice)
    check = Task("check", "brief", "step-02", "g", "Is it so?")
    work = Task("section", "brief", "step-02", "g", "Describe the users")
    for task in (check, work, work):
        await told.perform(task)
    assert [t.notice for t in agent.tasks] == [None, notice, None]


def test_the_decision_log_names_who_decided():
    decided = {**MENU, "outcome": "answer", "value": "2", "by": "person", "decided_by": "mona"}
    assert "decided by @mona" in decision_log("brief", [decided])


def test_the_runs_list_points_to_a_waiting_runs_question(conn):
    job_id = paused(conn, {**MENU, "issue": 9})
    listed = render(
        "runs/status_list.md.j2", jobs=jobstore.listing(conn, None, 5), repository="o/a"
    )
    assert f"| {job_id} | `brief` | paused |  · question #9 |" in listed
