"""One story, from its file to a verified pull request or to a blocked result with its branch
pushed: the developer loop with everything around it (worktree, sandboxed tests, the App's
commits, the push after each, the pull request).

Verify, don't trust: the base commit is recorded before any agent runs, the branch must
differ from it, the sprint state and CI workflows are put back as on the default branch
whoever changed them, and the tests the orchestrator runs on the final commit decide. Work is
never thrown away: every commit is pushed when it is made, and a limit, a refused model or a
question ends in `Blocked` with what was tried, what fails and where the branch is.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.agents.config import ConfigError, StoryLimits, load_config
from bot.git.remote import GitFailed, Identity, Remote
from bot.git.worktrees import Worktrees
from bot.llm.errors import LLMError
from bot.llm.probe import require_tool_calls
from bot.stories.branch import StoryBranch
from bot.stories.compose import Means, developer
from bot.stories.coverage import covering
from bot.stories.develop import Attempt, Development, develop, dropped_reason
from bot.stories.pull import open_draft, story_mark, update
from bot.stories.story import Story, find
from bot.stories.testing import TestRun, detect, run_tests
from bot.templates import render


@dataclasses.dataclass(frozen=True, slots=True)
class Place:
    """Where the story is delivered: the installation's client, the REST repository, its clone."""

    gh: GitHubAPI
    repository: Mapping[str, Any]
    remote: Remote
    worktrees: Worktrees
    identity: Identity


@dataclasses.dataclass(frozen=True, slots=True)
class Timings:
    total_s: float
    model_s: float
    tests_s: float

    @property
    def overhead_s(self) -> float:
        """The orchestrator's own time: git, GitHub, files, prompts (not model, not tests)."""
        return max(0.0, self.total_s - self.model_s - self.tests_s)


@dataclasses.dataclass(frozen=True, slots=True)
class Delivered:
    key: str
    branch: str
    base: str
    pull_url: str
    pull_number: int
    commits: tuple[str, ...]
    run: TestRun
    attempts: tuple[Attempt, ...]
    cost_usd: float
    tokens: int
    timings: Timings


@dataclasses.dataclass(frozen=True, slots=True)
class Blocked:
    key: str
    branch: str
    branch_url: str
    base: str
    reason: str
    limit: str  # iterations, time, tokens, question, model, setup, crash
    attempts: tuple[Attempt, ...]
    command: str
    failing: str  # the end of the last failing test run
    pull_url: str | None
    cost_usd: float
    tokens: int
    timings: Timings
    pushed: bool = True  # False: GitHub refused the branch; its commits are in the App's clone

    def text(self) -> str:
        """For the escalation: what was tried, what fails, where the branch is."""
        return render("stories/blocked.md.j2", result=self)


StoryResult = Delivered | Blocked


class _Published:
    """The branch as the loop saves to it: the draft pull request opens with the first commit,
    so people see the work while it goes on (and a crash leaves it there)."""

    def __init__(self, place: Place, branch: StoryBranch, story: Story) -> None:
        self.place, self.branch, self.story = place, branch, story
        self.pull: dict[str, Any] | None = None

    async def save(self, message: str, paths: list[str]) -> str | None:
        sha = await self.branch.save(message, paths)
        if sha is not None and self.pull is None:
            await self.publish(pull_body(self.story, "in progress"), ready=False)
        return sha

    async def changed(self) -> bool:
        return await self.branch.changed()

    async def publish(self, body: str, *, ready: bool) -> dict[str, Any]:
        title = f"story {self.story.short}: {self.story.title}"
        if self.pull is None:
            self.pull = await open_draft(
                self.place.gh, self.place.repository, head=self.branch.name, title=title,
                body=body,
            )  # fmt: skip
        self.pull = await update(self.place.gh, self.pull, title=title, body=body, ready=ready)
        return self.pull


async def deliver(place: Place, means: Means, key: str, issue: int | None = None) -> StoryResult:
    """Develop story `key` on `story/<key>` until its tests pass, then ready its pull request."""
    started = time.monotonic()
    default = str(place.repository["default_branch"])
    branch = await StoryBranch.prepare(place.remote, place.worktrees, key, default, place.identity)
    place.worktrees.busy.add(key)  # never swept while it is worked on
    try:
        return await _deliver(place, means, branch, issue, started)
    finally:
        place.worktrees.busy.discard(key)


async def _deliver(
    place: Place, means: Means, branch: StoryBranch, issue: int | None, started: float
) -> StoryResult:
    worktree, key = branch.worktree, branch.key
    if means.sandbox.refusal is not None:
        reason = f"the sandbox cannot run the repository's tests: {means.sandbox.refusal}"
        return await _not_started(place, branch, reason, started)
    try:
        config = load_config(worktree, {}, check_models=False)
        story = find(worktree, key, issue)
    except (ConfigError, FileNotFoundError) as exc:
        return await _not_started(place, branch, str(exc), started)
    test = detect(worktree, config.test_command, config.setup_command)
    if test is None:
        reason = "no test command: set `sandbox.test` in .github/orchestrator.yml"
        return await _not_started(place, branch, reason, started)
    probe_s = 0.0  # the model's time only: the developer's making is the orchestrator's
    try:  # a model the operator does not allow is refused here, as one that makes no tool calls
        dev, confinement = await developer(
            worktree, config, means, str(place.repository["full_name"])
        )
        probe_started = time.monotonic()
        await require_tool_calls(dev.llm)
        probe_s = time.monotonic() - probe_started
    except LLMError as exc:
        reason = f"the model cannot work through tools: {exc}"
        return await _not_started(place, branch, reason, started, "model")

    published = _Published(place, branch, story)
    try:
        outcome = await develop(dev, worktree, story, test, confinement, published)
    except (GitFailed, OSError) as exc:
        return await _crashed(place, branch, f"{type(exc).__name__}: {exc}", started)
    run, extra_s = outcome.last_run, 0.0
    stray = [f for f in await branch.files() if dropped_reason(f)]
    if stray:
        kept = f"story {story.short}: keep {', '.join(stray)} as on the default branch"
        if await branch.restore(stray, kept):
            run = await run_tests(dev.sandbox, worktree, test)  # the final commit is verified
            extra_s = run.duration_s
    files = await branch.files()
    verified = outcome.passed and run is not None and run.passed and bool(files)
    await branch.push()
    commits = tuple(await branch.commits())
    cost = dev.llm.ledger.totals("story").get(key, 0.0)
    reason = outcome.reason
    if not files:
        reason = "the branch changes nothing against its base"
    elif outcome.passed and not verified:
        reason = f"the tests fail once {', '.join(stray)} are as on the default branch"
    if files:
        body = pull_body(
            story, "verified" if verified else "blocked", reason=reason, commits=commits,
            files=files, run=run, outcome=outcome, cost=cost, limits=config.story_limits,
            covered=covering(worktree, files),
        )  # fmt: skip
        await published.publish(body, ready=verified)
    pull = published.pull
    model_s = outcome.model_s + probe_s
    timings = Timings(time.monotonic() - started, model_s, outcome.tests_s + extra_s)
    if verified and pull is not None and run is not None:
        return Delivered(
            key, branch.name, branch.base, str(pull["html_url"]), int(pull["number"]), commits,
            run, outcome.attempts, cost, outcome.tokens, timings,
        )  # fmt: skip
    return Blocked(
        key, branch.name, _branch_url(place, branch), branch.base, reason,
        outcome.limit or "iterations", outcome.attempts, test.command,
        run.tail if run is not None and not run.passed else "",
        str(pull["html_url"]) if pull else None, cost, outcome.tokens, timings,
    )  # fmt: skip


async def _not_started(
    place: Place, branch: StoryBranch, reason: str, started: float, limit: str = "setup"
) -> Blocked:
    """Blocked before the developer's first turn; the branch is pushed all the same."""
    await branch.push()
    timings = Timings(time.monotonic() - started, 0.0, 0.0)
    return Blocked(
        branch.key, branch.name, _branch_url(place, branch), branch.base, reason, limit, (),
        "", "", None, 0.0, 0, timings,
    )  # fmt: skip


async def _crashed(place: Place, branch: StoryBranch, reason: str, started: float) -> Blocked:
    """The loop broke off (git or the disk refused): what is committed is pushed if it can be."""
    try:
        await branch.push()
        pushed = True
    except GitFailed:
        pushed = False
    timings = Timings(time.monotonic() - started, 0.0, 0.0)
    return Blocked(
        branch.key, branch.name, _branch_url(place, branch), branch.base, reason, "crash", (),
        "", "", None, 0.0, 0, timings, pushed,
    )  # fmt: skip


def _branch_url(place: Place, branch: StoryBranch) -> str:
    return f"{place.repository['html_url']}/tree/{branch.name}"


def pull_body(
    story: Story,
    state: str,
    *,
    reason: str = "",
    commits: tuple[str, ...] = (),
    files: list[str] | None = None,
    run: TestRun | None = None,
    outcome: Development | None = None,
    cost: float = 0.0,
    limits: StoryLimits | None = None,
    covered: Mapping[int, list[str]] | None = None,
) -> str:
    """The pull request's text: the story linked, the change, each criterion with the tests
    that cover it, the orchestrator's test run, the cost."""
    return render(
        "stories/pull_request.md.j2",
        story=story,
        state=state,
        reason=reason,
        commits=commits,
        files=files or [],
        criteria=[(c, (covered or {}).get(n, [])) for n, c in enumerate(story.criteria, 1)],
        run=run,
        attempts=len(outcome.attempts) if outcome else 0,
        tokens=outcome.tokens if outcome else 0,
        cost_usd=cost,
        limits=limits,
        mark=story_mark(story.key),
    )
