"""The runner with real worker processes, the real SDK and a model over HTTP: outcomes in the
run-state words, limits held, cancel at a step boundary, a killed worker's job resumed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bot.engine.outputs import steps_completed
from bot.runs.jobs import JobSpec
from tests.runs.conftest import MODEL, model_env, settled, steps_repo

pytestmark = pytest.mark.slow


async def test_outcomes_done_failed_paused_under_the_limits(slow_model, make_runner, tmp_path):
    slow_model.projects = ("Alpha", "Beta", "Gamma")
    env = model_env(slow_model.url)
    alpha = [steps_repo(tmp_path / f"alpha{n}", 3, "Alpha") for n in range(2)]
    beta = steps_repo(tmp_path / "data/worktrees/beta", 3, "Beta")  # a worktree in the data dir
    gamma = steps_repo(tmp_path / "gamma", 2, "Gamma")
    (gamma / ".github").mkdir()
    (gamma / ".github/orchestrator.yml").write_text("llm_budget_usd: 0.0000001\n")
    runner = await make_runner(env, jobs=2, per_repository=1)
    queue = runner.queue
    specs = [
        JobSpec("c1", "octo/alpha", "parts", str(alpha[0]), MODEL),
        JobSpec("c2", "octo/alpha", "parts", str(alpha[1]), MODEL),
        JobSpec("c3", "octo/beta", "parts", str(beta), MODEL),
        JobSpec("c4", "octo/gamma", "parts", str(gamma), MODEL),
        JobSpec("c5", "octo/beta", "no-such-workflow", str(beta), MODEL),
    ]
    jobs = [(await runner.enqueue(s))[0] for s in specs]
    assert (await runner.enqueue(specs[0]))[1] is False  # the same comment id: one job
    ends = {j.key: await settled(queue, j.id) for j in jobs}
    assert {k: j.state for k, j in ends.items()} == {
        "c1": "done", "c2": "done", "c3": "done", "c4": "paused", "c5": "failed",
    }  # fmt: skip
    for repo in (*alpha, beta):
        assert steps_completed((repo / "docs/report.md").read_text()) == [1, 2, 3]
    assert ends["c4"].escalation["point"] == "budget"
    assert "BudgetExceeded" in ends["c4"].escalation["reason"]
    assert "no workflow 'no-such-workflow'" in ends["c5"].error and "parts" in ends["c5"].error
    assert all(j.attempts == 1 and j.lease_token is None for j in ends.values())
    # Counted, not timed: never two runs of one repository, never more than two at once.
    assert slow_model.peak["Alpha"] == 1 and slow_model.peak_total <= 2
    assert len(slow_model.steps) == 9  # three steps in each of the three finished runs


async def test_cancel_stops_a_run_at_its_next_step_boundary(slow_model, make_runner, tmp_path):
    slow_model.delay = 0.5
    repo = steps_repo(tmp_path / "repo", 10)
    runner = await make_runner(model_env(slow_model.url))
    job, _ = await runner.enqueue(JobSpec("k", "octo/r", "parts", str(repo), MODEL))
    async with asyncio.timeout(60):
        while len(slow_model.steps) < 2:
            await asyncio.sleep(0.02)
    assert (await runner.queue.cancel(job.id)).state == "running"  # flagged, not yet stopped
    cancelled = await settled(runner.queue, job.id)
    assert cancelled.state == "cancelled" and "step boundary" in cancelled.error
    written = steps_completed((repo / "docs/report.md").read_text())
    assert 2 <= len(written) < 10 and written == list(range(1, len(written) + 1))
    assert len(slow_model.steps) == len(written)  # the step under way ended, none began
    with pytest.raises(ValueError, match="already finished"):
        await runner.queue.cancel(job.id)


async def test_a_killed_worker_is_retried_and_the_run_goes_on(slow_model, make_runner, tmp_path):
    slow_model.delay = 0.3
    repo = steps_repo(tmp_path / "repo", 6)
    secrets = {"GITHUB_WEBHOOK_SECRET": "hook-secret", "GITHUB_PRIVATE_KEY": "pem"}
    runner = await make_runner(model_env(slow_model.url, **secrets))
    job, _ = await runner.enqueue(JobSpec("k", "octo/r", "parts", str(repo), MODEL))
    async with asyncio.timeout(60):
        while len(slow_model.steps) < 3:
            await asyncio.sleep(0.02)
    pid = (await runner.queue.find(job.id)).worker_pid
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert any(v.startswith(b"ANTHROPIC_BASE_URL=") for v in environ)
    assert not any(
        v.startswith((b"GITHUB_WEBHOOK_SECRET=", b"GITHUB_PRIVATE_KEY=")) for v in environ
    )
    assert os.getpriority(os.PRIO_PROCESS, pid) >= 10  # background work: niced
    os.kill(pid, signal.SIGKILL)
    done = await settled(runner.queue, job.id)
    assert done.state == "done" and done.attempts == 2
    report = (repo / "docs/report.md").read_text()
    assert steps_completed(report) == [1, 2, 3, 4, 5, 6]
    assert all(report.count(f"Tenfold: write part {n}.") == 1 for n in range(1, 7))
    assert 6 <= len(slow_model.steps) <= 7  # at most the step under way was asked again


async def test_a_runner_whose_lease_was_taken_stops_its_worker_and_writes_nothing(
    slow_model, make_runner, tmp_path
):
    slow_model.delay = 0.3
    repo = steps_repo(tmp_path / "repo", 10)
    runner = await make_runner(model_env(slow_model.url))
    job, _ = await runner.enqueue(JobSpec("k", "octo/r", "parts", str(repo), MODEL))
    async with asyncio.timeout(60):
        while len(slow_model.steps) < 2:
            await asyncio.sleep(0.02)
    worker = (await runner.queue.find(job.id)).worker_pid

    def take_over(conn):  # as another runner would, once the lease had run out
        conn.execute("UPDATE jobs SET lease_token = 'theirs', lease_owner = 'other' WHERE id = ?",
                     (job.id,))  # fmt: skip

    await runner.queue.transaction(take_over)
    async with asyncio.timeout(30):
        while job.id in runner.running:
            await asyncio.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    asked = len(slow_model.steps)
    await asyncio.sleep(1.0)
    assert len(slow_model.steps) == asked < 10  # the worker is gone, the run is not done
    row = await runner.queue.find(job.id)
    assert (row.state, row.lease_token, row.lease_owner) == ("running", "theirs", "other")
