"""The real server as a subprocess: SIGKILL mid-run, then a restart, and the job finishes
once, from its checkpoint; a graceful stop queues the run again without charging it."""

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
STEPS = 8


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


def job_row(data_dir):
    conn = jobstore.connect(data_dir / "jobs.sqlite3")
    try:
        return jobstore.find(conn, "comment-77")
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


async def test_sigkill_mid_run_then_restart_finishes_the_job_once(
    slow_model, tmp_path, unused_tcp_port
):
    slow_model.delay = 0.4
    repo, data_dir = steps_repo(tmp_path / "repo", STEPS), tmp_path / "data"
    conn = jobstore.connect(data_dir / "jobs.sqlite3")
    jobstore.enqueue(conn, JobSpec("comment-77", "octo/r", "parts", str(repo), MODEL), 0.0)
    conn.close()
    env = model_env(slow_model.url) | {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "ORCHESTRATOR_PORT": str(unused_tcp_port),
        "ORCHESTRATOR_DATA_DIR": str(data_dir),
        "ORCHESTRATOR_JOB_LEASE_SECONDS": "2",
        "ORCHESTRATOR_SANDBOX": "unsafe-host",
    }
    env = {k: v for k, v in env.items() if k not in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY")}
    server = None
    with (tmp_path / "server.log").open("ab") as log:
        try:
            server = await start(env, log)
            await until(lambda: len(slow_model.requests) >= 3)
            worker = job_row(data_dir).worker_pid
            assert worker is not None and not gone(worker)
            server.send_signal(signal.SIGKILL)  # mid-step: a model call is under way
            await server.wait()
            await until(lambda: gone(worker), timeout=10)  # the worker died with its runner
            at_kill = len(slow_model.requests)
            assert job_row(data_dir).state == "running"  # its lease runs out, then...

            server = await start(env, log)
            await until(lambda: len(slow_model.requests) >= at_kill + 2)
            server.send_signal(signal.SIGTERM)  # a graceful stop mid-run
            await server.wait()
            stopped = job_row(data_dir)
            assert stopped.state == "queued" and stopped.attempts == 1  # not charged
            assert "server stopped mid-run" in stopped.error

            server = await start(env, log)
            await until(lambda: job_row(data_dir).state not in ("queued", "running"))
        finally:
            if server is not None and server.returncode is None:
                server.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await server.wait()
    done = job_row(data_dir)
    log_text = (tmp_path / "server.log").read_text()
    assert done.state == "done", log_text[-3000:]
    assert done.attempts == 2 and done.finished_at is not None
    report = (repo / "docs/report.md").read_text()
    assert steps_completed(report) == list(range(1, STEPS + 1))
    for n in range(1, STEPS + 1):  # every step's part written once
        assert report.count(f"Tenfold: write part {n}.") == 1
    # Each interruption repeats at most the model call under way.
    assert STEPS <= len(slow_model.requests) <= STEPS + 2
    assert log_text.count('"job finished"') == 1
