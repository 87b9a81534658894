"""The runner on the app's lifetime: its settings, started with the server, and a job queued
through it run to an outcome (tests/runs/test_crash.py stops and kills the real server)."""

from __future__ import annotations

import asyncio

import pytest

from bot.runs.jobs import JobSpec
from bot.runs.service import JOBS, RUNNER, limits_from
from bot.settings import Settings, SettingsError
from tests.runs.conftest import settled


def test_the_runners_settings_come_from_the_environment():
    settings = Settings.from_env(
        {
            "ORCHESTRATOR_RUNNER_JOBS": "5",
            "ORCHESTRATOR_RUNNER_JOBS_PER_REPOSITORY": "2",
            "ORCHESTRATOR_JOB_LEASE_SECONDS": "40",
        }
    )
    limits = limits_from(settings)
    assert (limits.jobs, limits.per_repository, limits.lease_s) == (5, 2, 40.0)
    assert limits.heartbeat_s == 10.0 and settings.jobs_path.name == "jobs.sqlite3"
    with pytest.raises(SettingsError, match="ORCHESTRATOR_RUNNER_JOBS='0'"):
        Settings.from_env({"ORCHESTRATOR_RUNNER_JOBS": "0"})


@pytest.mark.slow
async def test_the_app_runs_queued_jobs_through_its_runner(make_client, tmp_path):
    client = await make_client(sandbox_mode="unsafe-host")
    app = client.server.app
    runner = app[RUNNER]
    spec = JobSpec("comment-1", "octo/r", "parts", str(tmp_path / "gone"), "anthropic:m")
    job, created = await runner.enqueue(spec)
    assert created and job.state == "queued"
    failed = await settled(app[JOBS], job.id)
    assert failed.state == "failed" and "does not exist" in failed.error
    again, created = await runner.enqueue(spec)  # a redelivered command: still one job
    assert not created and again.id == job.id
    async with asyncio.timeout(5):
        while runner.running:
            await asyncio.sleep(0.05)
