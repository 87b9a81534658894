"""The real server as a subprocess: SIGKILL mid-run, then a restart, and every job finishes
once, from its checkpoint; a graceful stop queues the runs again without charging them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.outputs import steps_completed
from bot.runs import jobstore
from bot.runs.jobs import JobSpec
from tests.runs.conftest import MODEL, model_env, steps_repo
from tests.support import ROOT, SECRET

pytestmark = pytest.mark.slow
STEPS = 6


async def start(env: dict[str, str], log) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(env["ORCHESTRATOR_PORT"]))) == 0:
                    return process
            await asyncio.sleep(0.05)


def jobs(data_dir):
    conn = jobstore.connect(data_dir / "jobs.sqlite3")
    try:
        return {job.key: job for job in jobstore.listing(conn, None, 10)}
    finally:
        conn.close()


async def until(predicate, timeout=90.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


async def test_sigkill_mid_run_then_restart_finishes_every_job_once(
    slow_model, tmp_path, unused_tcp_port
):
    slow_model.delay = 0.3
    slow_model.projects = ("Alpha", "Beta")
    data_dir = tmp_path / "data"
    repos = {p: steps_repo(tmp_path / p, STEPS, p) for p in slow_model.projects}
    conn = jobstore.connect(data_dir / "jobs.sqlite3")
    for p, repo in repos.items():
        jobstore.enqueue(conn, JobSpec(f"comment-{p}", f"octo/{p}", "parts", str(repo), MODEL), 0)
    conn.close()
    env = model_env(slow_model.url) | {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "ORCHESTRATOR_PORT": str(unused_tcp_port),
        "ORCHESTRATOR_DATA_DIR": str(data_dir),
        "ORCHESTRATOR_JOB_LEASE_SECONDS": "2",
        "ORCHESTRATOR_SANDBOX": "unsafe-host",
    }
    env = {k: v for k, v in env.items() if k not in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY")}
    asked = slow_model.requests
    server = None
    with (tmp_path / "server.log").open("ab") as log:
        try:
            server = await start(env, log)
            await until(
                lambda: len(asked) >= 4 and all(j.progress for j in jobs(data_dir).values())
            )
            workers = [j.worker_pid for j in jobs(data_dir).values()]
            assert all(w is not None and not gone(w) for w in workers)
            server.send_signal(signal.SIGKILL)  # mid-step: model calls are under way
            await server.wait()
            await until(lambda: all(gone(w) for w in workers), timeout=10)  # died with it
            at_kill = len(asked)
            assert {j.state for j in jobs(data_dir).values()} == {"running"}  # leases run out

            server = await start(env, log)
            await until(lambda: len(asked) >= at_kill + 2)
            server.send_signal(signal.SIGTERM)  # a graceful stop mid-run
            await server.wait()
            for stopped in jobs(data_dir).values():
                assert stopped.state == "queued" and stopped.attempts == 1  # not charged
                assert "server stopped mid-run" in stopped.error

            server = await start(env, log)
            finished = ("done", "failed", "cancelled", "paused")
            await until(lambda: all(j.state in finished for j in jobs(data_dir).values()))
        finally:
            if server is not None and server.returncode is None:
                server.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await server.wait()
    log_text = (tmp_path / "server.log").read_text()
    for project, repo in repos.items():
        done = jobs(data_dir)[f"comment-{project}"]
        assert done.state == "done", log_text[-3000:]
        assert done.attempts == 2 and done.finished_at is not None
        report = (repo / "docs/report.md").read_text()
        assert steps_completed(report) == list(range(1, STEPS + 1))
        for n in range(1, STEPS + 1):  # every step's part written once
            assert report.count(f"{project}: write part {n}.") == 1
        # Each of the two interruptions repeats at most the model call under way.
        calls = sum(1 for r in asked if project in str(r))
        assert STEPS <= calls <= STEPS + 2
    assert log_text.count('"job finished"') == 2
