"""An epic's retrospective end to end: the real server (a subprocess) on the local GitHub, the
install's retrospective workflow run by the runner's worker like any run, the rule-based
model answering. Every story of epic 1 is done and `retrospectives: true`: one run starts
from the epic's issue, the server is SIGKILLed once it is under way, and the end is one
status comment, one pull request and `epic-1-retrospective: done` in the sprint status."""

from __future__ import annotations

import asyncio
import collections

import pytest

from bot.github.markers import marker
from githubsim.model import Issue
from tests.e2e.conftest import BOT_LOGIN, World, model_env
from tests.stories.test_retrospectives import PATH, SPRINT, install

pytestmark = pytest.mark.slow


@pytest.fixture
def world_env(anthropic_server) -> dict[str, str]:
    return model_env(anthropic_server.url) | {
        "ORCHESTRATOR_STORY_ISSUES_PASS_SECONDS": "0.3",
        "ORCHESTRATOR_JOB_LEASE_SECONDS": "2",
    }


def epic_issue(world: World, key: str) -> Issue | None:
    for issue in world.repository.issues.values():
        if issue.via_app is world.app and marker("story", key) in (issue.body or ""):
            return issue
    return None


def status_comments(world: World, key: str) -> list[str]:
    issue = epic_issue(world, key)
    found = [] if issue is None else world.bot_comments(issue.number)
    return [c.body for c in found if "ao:run:" in c.body]


async def test_a_finished_epics_retrospective_runs_once_through_a_kill(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    files = {**install(), PATH: SPRINT, ".github/orchestrator.yml": "retrospectives: true\n"}
    await world.sim.push(world.repository, by="maya", files=files, message="A finished epic")

    await world.until(lambda: bool(status_comments(world, "epic-1")), timeout=60)
    await world.kill()  # the run queued or under way
    await world.start()

    async def recorded() -> bool:
        text = await world.sim.git.git(world.repository, "show", f"main:{PATH}")
        return "epic-1-retrospective: done" in text

    for _ in range(600):  # the run's end recorded in the file (a minute at most)
        if await recorded():
            break
        await asyncio.sleep(0.1)
    assert await recorded(), world.log()[-4000:]
    await world.quiet()

    [comment] = status_comments(world, "epic-1")
    assert "**retrospective**" in comment and "✅ done" in comment
    issue = epic_issue(world, "epic-1")
    assert issue is not None
    [pull] = [p for p in world.sim.pulls.of(world.repository) if "retrospective" in p.head_ref]
    assert pull.head_ref == f"ao/{issue.number}-retrospective" and pull.state == "open"
    assert status_comments(world, "epic-2") == [] and status_comments(world, "epic-3") == []
    text = await world.sim.git.git(world.repository, "show", f"main:{PATH}")
    assert "epic-2-retrospective: optional" in text and "epic-3-retrospective: cancelled" in text
    titles = collections.Counter(i.title for i in world.repository.issues.values())
    assert max(titles.values()) == 1, titles
    log = await world.sim.git.git(world.repository, "log", "--format=%an|%s", "main")
    subjects = collections.Counter(line for line in log.splitlines() if line.startswith(BOT_LOGIN))
    assert max(subjects.values()) == 1, subjects
