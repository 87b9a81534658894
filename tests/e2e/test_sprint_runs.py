"""A sprint that runs itself, end to end: the real server (a subprocess) on the local GitHub,
real git, the real sandbox, the model's file edits scripted per story behind the Anthropic
protocol. A person labels the first story ready; it ends as a verified PR (the repository's
CI green), reviewed by the App, approved by a person, merged; its dependant starts by itself
and ends merged too. One SIGKILL mid-story: the same end, nothing made twice."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.github.markers import marker
from bot.project.location import DEFAULT as PATH
from githubsim.model import Issue
from githubsim.pulls_model import PullRequest
from tests.e2e.conftest import BOT_LOGIN, World, model_env
from tests.stories.project import FILES, TEST_COMMAND, ScriptedModel
from tests.stories.test_sprint import FUNCTIONS, script

pytestmark = pytest.mark.slow

KEYS = ("1-1-subtract", "1-2-multiply")
SPRINT = (
    "development_status:\n  epic-1: in-progress\n  1-1-subtract: backlog\n  1-2-multiply: backlog\n"
)
CONFIG = f"sandbox:\n  test: {TEST_COMMAND}\nmax_concurrent_agents: 2\n"


@pytest.fixture
async def scripted(aiohttp_server) -> AsyncIterator[ScriptedModel]:
    model = ScriptedModel()
    model.http = await aiohttp_server(model.app())  # type: ignore[attr-defined]
    yield model
    assert model.invalid == []


@pytest.fixture
def sim_options(graphql_description) -> dict[str, object]:
    return {"graphql": graphql_description}


@pytest.fixture
def world_env(scripted) -> dict[str, str]:
    url = str(scripted.http.make_url(""))
    return {**model_env(url), "ORCHESTRATOR_SANDBOX": "bubblewrap",
            "ORCHESTRATOR_STORY_ISSUES_PASS_SECONDS": "0.3"}  # fmt: skip


def story_issue(world: World, key: str) -> Issue | None:
    for issue in world.repository.issues.values():
        mine = issue.via_app is world.app and issue.pull is None
        if mine and marker("story", key) in (issue.body or ""):
            return issue
    return None


def pulls(world: World, key: str) -> list[PullRequest]:
    return [i.pull for i in world.repository.issues.values()
            if i.pull is not None and i.pull.head_ref == f"story/{key}"]  # fmt: skip


def reviewed(world: World, key: str) -> PullRequest | None:
    """The story's PR, ready, with the App's ao/review done and the CI finished on its head."""
    for pull in pulls(world, key):
        runs = {
            r.name: r.status for r in world.sim.checks.runs_for(world.repository, pull.head_sha)
        }
        finished = len(runs) > 1 and all(status == "completed" for status in runs.values())
        if pull.state == "open" and not pull.draft and runs.get("ao/review") and finished:
            return pull
    return None


def closed(world: World, key: str) -> bool:
    issue = story_issue(world, key)
    return issue is not None and issue.state == "closed"


async def file_on_main(world: World) -> str:
    return await world.sim.git.git(world.repository, "show", f"main:{PATH}")


async def test_two_stories_run_to_done_through_a_kill(world, scripted, tmp_path: Path):
    for key in KEYS:
        scripted.scripts[key] = script(*FUNCTIONS[key])
    scripted.delay = 0.3  # long enough to be killed mid-story
    multiply = FILES["docs/stories/1-2-multiply.md"] + "\nDepends on: 1-1\n"
    world.sim.install(world.app, [world.repository], by="octo-org")
    files = {**FILES, PATH: SPRINT, ".github/orchestrator.yml": CONFIG,
             "docs/stories/1-2-multiply.md": multiply}  # fmt: skip
    await world.sim.push(world.repository, by="maya", files=files, message="A calculator")
    world.sim.set_ci(world.repository, TEST_COMMAND)
    await world.until(lambda: all(story_issue(world, k) for k in KEYS), timeout=30)
    first = story_issue(world, KEYS[0])
    assert first is not None
    world.sim.remove_label(world.repository, first.number, by="maya", name="story: backlog")
    world.sim.add_label(world.repository, first.number, by="maya", name="story: ready-for-dev")

    await world.until(lambda: bool(pulls(world, KEYS[0])), timeout=60)
    await world.kill()  # mid-story: the draft PR is open, the story not verified yet
    await world.start()

    for key in KEYS:
        await world.until(lambda k=key: reviewed(world, k) is not None, timeout=90)
        pull = reviewed(world, key)
        assert pull is not None
        ci = [r for r in world.sim.checks.runs_for(world.repository, pull.head_sha)
              if r.name != "ao/review"]  # fmt: skip
        assert ci and all(r.conclusion == "success" for r in ci), ci
        await world.sim.review(world.repository, pull.number, by="maya", event="APPROVE")
        await world.until(lambda p=pull: p.merged_at is not None, timeout=60)
    await world.until(lambda: all(closed(world, k) for k in KEYS), timeout=30)
    await world.quiet()

    text = await file_on_main(world)
    assert "1-1-subtract: done" in text and "1-2-multiply: done" in text, text
    for key in KEYS:
        [pull] = pulls(world, key)  # one PR per story, whatever the kill interrupted
        assert pull.merged_at is not None
        ours = [r for r in pull.reviews if r.user.login == BOT_LOGIN]
        assert len(ours) == 1, ours
        bodies = [c.body for c in world.bot_comments(pull.number)]
        assert len(bodies) == len(set(bodies)), bodies
    titles = collections.Counter(i.title for i in world.repository.issues.values())
    assert max(titles.values()) == 1, titles
    log = await world.sim.git.git(world.repository, "log", "--format=%an|%s", "main")
    subjects = collections.Counter(line for line in log.splitlines() if line.startswith(BOT_LOGIN))
    assert max(subjects.values()) == 1, subjects
    worktrees = Path(world.env["ORCHESTRATOR_DATA_DIR"]) / "worktrees" / world.repository.full_name
    assert not worktrees.exists() or not [p for p in worktrees.iterdir() if p.is_dir()]
