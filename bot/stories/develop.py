"""The developer loop: the developer persona works the story in its worktree, the orchestrator
runs the tests, and failing output goes back to the persona until they pass or a limit is hit.

The seam: BMAD's dev-story workflow is an interactive, eleven-step procedure whose own steps
run the tests and edit `sprint-status.yaml`; run whole by the executor it would trust the
agent's word at each of them. Here the workflow gives the persona (its owning agent) and its
critical rules (the stable prefix of every request), and each iteration is one turn of the
same tool loop the executor's agents use (`bot.agents.loop.work`), confined the same way: the
first turn is "implement the story", every later one "make the failing tests pass" with the
orchestrator's own test output. Between turns the orchestrator applies the turn's writes
(dropping `sprint-status.yaml` and `.github/workflows/`), commits and pushes them through
`Branch`, and runs the tests in the sandbox: only that run says the story passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from bot.agents.config import StoryLimits
from bot.agents.decisions import Decider
from bot.agents.loop import NeedsPerson, work
from bot.agents.personas import Persona
from bot.agents.tools import Workspace
from bot.engine.confine import Confinement
from bot.engine.files import PathRefused
from bot.engine.tasks import Task
from bot.llm.errors import LLMError
from bot.llm.metered import Metered
from bot.sandbox.runner import Sandbox
from bot.stories.story import Story, documents, listing
from bot.stories.testing import TestCommand, TestRun, run_tests
from bot.templates import render

#: Why a loop ended without passing tests.
Limit = Literal["iterations", "time", "tokens", "question", "model"]
#: How a turn ends when the agent finished it (it called done, or answered in words); a turn
#: cut short is never taken as the story done, whatever the tests say.
FINISHED = ("done", "answer")
#: The least time a test run gets, however little of the story's time is left.
MIN_TEST_S = 60.0
#: One writer for the sprint state (on the default branch); CI runs with the repository's
#: secrets. Neither is ever changed from a story branch.
SPRINT_STATUS = "sprint-status.yaml"
WORKFLOWS = ".github/workflows"


class Branch(Protocol):
    """The story's branch, as the loop needs it (git and GitHub stay with the caller)."""

    async def save(self, message: str, paths: list[str]) -> str | None:
        """Commit `paths` and push; the commit's sha, or None when they changed nothing."""
        ...

    async def changed(self) -> bool:
        """Whether the branch differs from the base commit recorded before the agent ran."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class Developer:
    """Who works the story and within what: the persona, its model, the workflow's rules."""

    llm: Metered
    persona: Persona
    sandbox: Sandbox
    decider: Decider
    limits: StoryLimits
    workflow: str = "dev-story"
    rules: tuple[str, ...] = ()
    project: str = ""
    turn_tool_calls: int = 16  # tool-loop iterations within one turn


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    summary: str  # what the agent said it did
    changed: tuple[str, ...]  # files written to the worktree
    dropped: tuple[str, ...]  # writes refused (sprint state, CI workflows, confinement)
    commit: str | None
    tests: TestRun | None  # None when the turn ended the loop before a test run
    stopped: str  # how the agent's turn ended (done, answer, iterations, tokens, time, ...)


@dataclasses.dataclass(frozen=True, slots=True)
class Development:
    attempts: tuple[Attempt, ...]
    passed: bool
    limit: Limit | None  # why it stopped short of passing; None when it passed
    reason: str  # in words, for the blocked text
    tokens: int
    model_s: float  # time spent waiting for the model (for the bench)
    tests_s: float  # time spent in the test runs

    @property
    def last_run(self) -> TestRun | None:
        return next((a.tests for a in reversed(self.attempts) if a.tests), None)


def dropped_reason(relative: str) -> str | None:
    path = PurePosixPath(relative)
    if path.name == SPRINT_STATUS:
        return "the sprint state has one writer, on the default branch"
    if relative == WORKFLOWS or relative.startswith(WORKFLOWS + "/"):
        return "CI workflows are never changed by the orchestrator"
    return None


def apply(
    worktree: Path, writes: dict[str, str], confinement: Confinement
) -> tuple[list[str], list[str]]:
    """Make the turn's writes in the worktree: (written, dropped)."""
    written, dropped = [], []
    for relative, content in sorted(writes.items()):
        try:
            checked = confinement.check_write(relative)
        except PathRefused:
            dropped.append(relative)
            continue
        if dropped_reason(checked) is not None:
            dropped.append(checked)
            continue
        target = worktree / checked
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        written.append(checked)
    return written, dropped


def story_tokens(llm: Metered, key: str) -> int:
    return sum(
        c.usage.input_tokens
        + c.usage.output_tokens
        + c.usage.cache_read_tokens
        + c.usage.cache_write_tokens
        for c in llm.ledger.charges
        if c.story == key
    )


def task_for(
    dev: Developer,
    worktree: Path,
    story: Story,
    confinement: Confinement,
    test: TestCommand,
    number: int,
    previous: Attempt | None,
) -> Task:
    """The turn's task: implement the story, or (after a failing run) make the tests pass."""
    inputs = {"repository files": listing(worktree, confinement)}
    run = previous.tests if previous else None
    if run is not None:
        inputs[f"test output ({run.command})"] = run.tail
    instruction = render(
        "stories/fix.md.j2" if run is not None else "stories/implement.md.j2",
        story=story,
        test=test,
        run=run,
        number=number,
        limit=dev.limits.iterations,
        changed_nothing=previous is not None and not previous.changed,
        cut=previous is not None and previous.stopped not in FINISHED,
    )
    return Task(
        kind="act",
        workflow=dev.workflow,
        step_id=f"attempt-{number}",
        step_goal=f"story {story.key}: {story.title}",
        instruction=instruction,
        variables={"story_key": story.key, "project_name": dev.project},
        rules=dev.rules,
        inputs=inputs,
        agent=dev.persona.id,
        documents=documents(worktree, story, confinement),
    )


async def develop(
    dev: Developer,
    worktree: Path,
    story: Story,
    test: TestCommand,
    confinement: Confinement,
    branch: Branch,
) -> Development:
    """Turns and test runs until the tests pass on a changed branch, or a limit is reached."""
    deadline = time.monotonic() + dev.limits.minutes * 60
    attempts: list[Attempt] = []
    model_s = tests_s = 0.0
    limit: Limit | None = "iterations"
    reason = f"the tests still fail after {dev.limits.iterations} attempt(s)"
    for number in range(1, dev.limits.iterations + 1):
        spent = story_tokens(dev.llm, story.key)
        if spent >= dev.limits.tokens:
            limit, reason = "tokens", f"{spent} tokens spent (limit {dev.limits.tokens})"
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            limit, reason = "time", f"the {dev.limits.minutes:g}-minute limit was reached"
            break
        previous = attempts[-1] if attempts else None
        task = task_for(dev, worktree, story, confinement, test, number, previous)
        workspace = Workspace(worktree, confinement)
        summary, stopped = "", "done"
        ended: tuple[Limit, str] | None = None
        started = time.monotonic()
        try:
            async with asyncio.timeout(remaining):
                result = await work(
                    dev.llm, dev.persona, task, workspace, dev.decider,
                    max_iterations=dev.turn_tool_calls,
                    max_output_tokens=max(1, dev.limits.tokens - spent),
                )  # fmt: skip
            summary, stopped = result.text, result.stopped
        except TimeoutError:
            stopped = "time"
            ended = ("time", f"the {dev.limits.minutes:g}-minute limit was reached mid-turn")
        except NeedsPerson as asked:
            stopped = "question"
            ended = ("question", f"the developer asked: {asked.decision.question}")
        except LLMError as exc:
            stopped = "model"
            ended = ("model", f"the model could not go on: {type(exc).__name__}: {exc}")
        model_s += time.monotonic() - started
        written, dropped = apply(worktree, workspace.writes, confinement)
        message = commit_message(story, summary or f"attempt {number}")
        sha = await branch.save(message, written)
        run = None
        if ended is None or written:
            # Within the story's time, but never so short that the verdict is only a timeout.
            room = max(deadline - time.monotonic(), MIN_TEST_S)
            run = await run_tests(dev.sandbox, worktree, test, time_s=room)
            tests_s += run.duration_s
        attempts.append(Attempt(number, summary, tuple(written), tuple(dropped), sha, run, stopped))
        finished = stopped in FINISHED
        if run is not None and run.passed and finished and await branch.changed():
            limit, reason = None, f"the tests pass ({run.summary})"
            break
        if ended is not None:
            limit, reason = ended
            break
    last = attempts[-1] if attempts else None
    if limit == "iterations" and last and last.tests and last.tests.passed:
        reason = f"the last attempt ended ({last.stopped}) before the developer called done"
    return Development(
        tuple(attempts), limit is None, limit, reason,
        story_tokens(dev.llm, story.key), model_s, tests_s,
    )  # fmt: skip


def commit_message(story: Story, summary: str) -> str:
    """`story 1-2: validate the login form`: the agent's first line, one line, bounded."""
    line = " ".join((summary.strip().splitlines() or [""])[0].split()) or story.title
    line = line[0].lower() + line[1:] if line[:2] != line[:2].upper() else line
    return f"story {story.short}: {line}"[:100].rstrip()
