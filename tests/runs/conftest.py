"""Fixtures for the runner: small workflows, a model that takes its time, and a runner with
real worker processes on a real queue."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from bot.localmodel.anthropic_wire import AnthropicServer
from bot.runs.queue import JobQueue
from bot.runs.runner import Runner, RunnerLimits
from tests.engine.test_messy_repositories import write

MODEL = "anthropic:claude-haiku-4-5"


def steps_repo(repo: Path, steps: int, project: str = "Tenfold") -> Path:
    """A step-file workflow `parts` of `steps` steps, each writing its part of a report."""
    files = {
        "_bmad/core/config.yaml": f"user_name: Ada\nproject_name: {project}\noutput_folder: docs\n",
        "_bmad/bmm/config.yaml": "output_folder: docs\n",
        "_bmad/bmm/workflows/parts/workflow.md": "---\nname: parts\ndescription: in parts\n"
        "nextStep: './steps/step-01-part.md'\n---\n# Parts\nFollow the steps.\n",
    }
    for n in range(1, steps + 1):
        following = f"nextStepFile: './step-{n + 1:02d}-part.md'\n" if n < steps else ""
        files[f"_bmad/bmm/workflows/parts/steps/step-{n:02d}-part.md"] = (
            f"---\nname: step-{n:02d}\ndescription: 'Write part {n}'\n{following}"
            "outputFile: '{output_folder}/report.md'\n---\n"
            f"# Step {n}\n\nWrite part {n} of the report.\n\n## MENU\n\n[C] Continue\n"
            "HALT and wait for user input.\n"
        )
    return write(repo, files)


class SlowModel(AnthropicServer):
    """The Anthropic-protocol server, answering after `delay` seconds; it counts requests in
    flight per project (the project's name is in every prompt)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0

    async def messages(self, request):  # type: ignore[no-untyped-def]
        text = await request.text()
        project = next((p for p in self.projects if p in text), "?")
        self.in_flight[project] += 1
        self.peak[project] = max(self.peak[project], self.in_flight[project])
        self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
        try:
            await asyncio.sleep(self.delay)
            return await super().messages(request)
        finally:
            self.in_flight[project] -= 1

    projects: tuple[str, ...] = ()

    @property
    def steps(self) -> list[dict[str, object]]:
        """The requests that do a step's work: not each run's one tool-call probe."""
        return [r for r in self.requests if "Call the `ready` tool" not in json.dumps(r)]


@pytest.fixture
async def slow_model(aiohttp_server):
    server = SlowModel(delay=0.2)
    server.http = await aiohttp_server(server.app())
    server.url = str(server.http.make_url(""))
    yield server
    assert server.invalid == []


def model_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    return env | {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "test-key", **extra}


@pytest.fixture
async def make_runner(tmp_path):
    made: list[tuple[Runner, JobQueue]] = []

    async def make(env: dict[str, str], **limits: float) -> Runner:
        queue = JobQueue(tmp_path / "data" / "jobs.sqlite3")
        await queue.open()
        defaults = {"lease_s": 20.0, "heartbeat_s": 0.2, "poll_s": 0.2, "retry_delay_s": 0.1}
        runner = Runner(queue, tmp_path / "data", RunnerLimits(**(defaults | limits)), environ=env)
        await runner.start()
        made.append((runner, queue))
        return runner

    yield make
    for runner, queue in made:
        await runner.stop()
        await queue.close()


async def settled(queue: JobQueue, job_id: int, states=("done", "failed", "cancelled", "paused"),
                  timeout: float = 90.0):  # fmt: skip
    async with asyncio.timeout(timeout):
        while (job := await queue.find(job_id)).state not in states:
            await asyncio.sleep(0.05)
    return job
