"""`orchestrator jobs list|show|cancel` as an operator uses it, on a real queue file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot import cli
from bot.runs import jobstore, leases
from bot.runs.jobs import JobSpec, Outcome
from tests.support import ROOT


@pytest.fixture
def data_dir(tmp_path):
    conn = jobstore.connect(tmp_path / "jobs.sqlite3")
    for n, repo in enumerate(["octo/a", "octo/b", "octo/c"]):
        jobstore.enqueue(conn, JobSpec(f"comment-{n}", repo, "create-prd", "/w"), 1e9 + n)
    conn.execute("BEGIN IMMEDIATE")
    first = leases.claim(
        conn, "runner", 1e9 + 5, lease_s=60, limit=2, per_repository=1, max_attempts=3
    )
    second = leases.claim(
        conn, "runner", 1e9 + 5, lease_s=60, limit=2, per_repository=1, max_attempts=3
    )
    conn.execute("COMMIT")
    leases.heartbeat(conn, [(second.id, second.lease_token, "step-02: Discover")], 1e9 + 6, 60)
    failure = Outcome("failed", "no workflow 'create-prd' in /w (known: none)")
    leases.finish(conn, first.id, first.lease_token, failure, 1e9 + 7)
    conn.close()
    return tmp_path


def run(capsys, data_dir, *argv):
    code = cli.main(["jobs", *argv], environ={"ORCHESTRATOR_DATA_DIR": str(data_dir)})
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_newest_first_in_the_run_state_words(capsys, data_dir):
    code, out, _ = run(capsys, data_dir, "list")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:4] == ["ID", "REPOSITORY", "WORKFLOW", "STATE"]
    assert [r.split()[3] for r in rows[1:]] == ["queued", "running", "failed"]
    assert "step-02: Discover" in rows[2] and "no workflow 'create-prd'" in rows[3]
    code, out, _ = run(capsys, data_dir, "list", "--state", "failed", "--json")
    [failed] = [json.loads(line) for line in out.splitlines()]
    assert failed["key"] == "comment-0" and failed["attempts"] == 1
    assert failed["finished_at"] == "2001-09-09 01:46:47"


def test_show_finds_a_job_by_number_or_key(capsys, data_dir):
    code, by_key, _ = run(capsys, data_dir, "show", "comment-1")
    assert code == 0 and "state: running" in by_key and "lease_owner: runner" in by_key
    code, by_id, _ = run(capsys, data_dir, "show", "2")
    assert code == 0 and by_id == by_key
    code, _, err = run(capsys, data_dir, "show", "comment-404")
    assert code == 1 and "no job 'comment-404'" in err


def test_cancel_waiting_at_once_running_at_the_next_step(capsys, data_dir):
    code, out, _ = run(capsys, data_dir, "cancel", "comment-2")
    assert code == 0 and out == "job 3 cancelled\n"
    code, out, _ = run(capsys, data_dir, "cancel", "2")
    assert code == 0 and "stops at its run's next step boundary" in out
    code, out, _ = run(capsys, data_dir, "list")
    assert "running (cancelling)" in out
    code, _, err = run(capsys, data_dir, "cancel", "1")
    assert code == 1 and "already finished (failed)" in err
    code, _, err = run(capsys, data_dir, "cancel", "99")
    assert code == 1 and "no job '99'" in err


def test_a_missing_or_damaged_queue_is_explained_and_left_alone(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path, "list")
    assert code == 1 and "no job queue at" in err
    damaged = b"not sqlite at all" * 100
    (tmp_path / "jobs.sqlite3").write_bytes(damaged)
    code, _, err = run(capsys, tmp_path, "list")
    assert code == 1 and "cannot be read" in err and "move it aside" in err
    assert (tmp_path / "jobs.sqlite3").read_bytes() == damaged


def test_the_server_refuses_to_start_on_a_damaged_queue_and_keeps_it(tmp_path):
    damaged = b"not sqlite at all" * 100
    (tmp_path / "jobs.sqlite3").write_bytes(damaged)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ORCHESTRATOR_"))}
    env |= {"GITHUB_WEBHOOK_SECRET": "s", "ORCHESTRATOR_SANDBOX": "unsafe-host"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--data-dir", str(tmp_path), "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "job queue" in done.stderr and "move it aside" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "jobs.sqlite3").read_bytes() == damaged
