"""The engine's own costs: load + validate of the BMAD installs the tests use (target: under
500 ms each), and the executor's overhead per step with an agent that answers at once (target:
under 5 ms per step, checkpoint and fsyncs included).

    .venv/bin/python -m bench.engine [ROUNDS]

Each round loads every install from scratch (a new loader, no cache carried over), in turn,
so machine noise hits them alike; prints the median and the slowest round per install. Then
it runs a 10-step step-file workflow and a 10-step XML workflow to the end, ROUNDS times each.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor
from bot.engine.loader import load
from bot.engine.tasks import Reply, Task
from tests.engine.conftest import VERSIONS, install_path
from tests.engine.test_executor import ten_steps
from tests.engine.test_messy_repositories import write

TARGET_MS = 500.0
STEP_TARGET_MS = 5.0


class InstantAgent:
    async def perform(self, task: Task) -> Reply:
        if task.kind == "menu":
            return Reply(answer="C")
        return Reply(text=f"{task.step_id} done", answer="no")


def xml_steps(repo: Path) -> Path:
    steps = "".join(
        f"<step n='{n}' goal='Part {n}'><action>Read the brief</action>"
        f"<check if='{{{{skip}}}} is provided'><action>skip</action></check>"
        f"<template-output>part_{n}</template-output></step>"
        for n in range(1, 11)
    )
    return write(repo, {
        "_bmad/core/config.yaml": "user_name: Ada\n",
        "_bmad/bmm/workflows/xml/workflow.yaml": "name: xml\n"
        "instructions: '{installed_path}/i.xml'\ndefault_output_file: '{project-root}/out.md'\n",
        "_bmad/bmm/workflows/xml/i.xml": f"<workflow>{steps}</workflow>",
    })  # fmt: skip


def per_step(rounds: int) -> None:
    print(f"\n{'workflow':<16} {'steps':>6} {'median ms/step':>15} {'max ms/step':>12}")
    for name, make in (("ten", ten_steps), ("xml", xml_steps)):
        timings = []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as tmp:
                repo = make(Path(tmp) / "repo")
                project = load(repo)
                executor = Executor(project, InstantAgent(), CheckpointStore(Path(tmp) / "runs"))
                start = time.perf_counter()
                result = asyncio.run(executor.run(name))
                elapsed = (time.perf_counter() - start) * 1000
                timings.append(elapsed / result.steps_run)
        median = statistics.median(timings)
        verdict = "ok" if median < STEP_TARGET_MS else "OVER TARGET"
        print(f"{name:<16} {10:>6} {median:>15.2f} {max(timings):>12.2f}  {verdict}")


def main(rounds: int) -> None:
    timings: dict[str, list[float]] = {v: [] for v in VERSIONS}
    counts: dict[str, tuple[int, int, int]] = {}
    for _ in range(rounds):
        for version in VERSIONS:
            start = time.perf_counter()
            project = load(install_path(version))
            timings[version].append((time.perf_counter() - start) * 1000)
            steps = sum(len(w.steps) for w in project.workflows)
            counts[version] = (len(project.workflows), steps, len(project.errors))
    header = ("install", "workflows", "steps", "errors", "median ms", "max ms")
    print("{:<16} {:>9} {:>6} {:>6} {:>10} {:>8}".format(*header))
    for version, values in timings.items():
        workflows, steps, errors = counts[version]
        median = statistics.median(values)
        verdict = "ok" if median < TARGET_MS else "OVER TARGET"
        print(
            f"{version:<16} {workflows:>9} {steps:>6} {errors:>6} {median:>10.0f} "
            f"{max(values):>8.0f}  {verdict}"
        )


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    main(rounds)
    per_step(rounds)
