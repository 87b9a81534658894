"""GitHub as the board, end to end: a sprint status pushed to the default branch becomes story
issues with labels and the pinned status issue; a person's label change moves the story in
the file by an App commit; a restart never makes anything twice."""

from __future__ import annotations

from typing import Any

import pytest

from bot.github.markers import marker
from bot.project.status_issue import TITLE
from githubsim.model import Issue
from tests.e2e.conftest import BOT_LOGIN, World

pytestmark = pytest.mark.slow

PATH = "_bmad-output/implementation-artifacts/sprint-status.yaml"
SPRINT = """\
# generated: 2026-11-30
project: hello
development_status:
  epic-1: in-progress   # the first epic
  1-1-sign-in: done
  1-2-sign-out: ready-for-dev
  1-3-forgot-password: backlog
  epic-1-retrospective: optional
  epic-2: backlog
  2-1-profile-page: backlog
  2-2-avatar: backlog
"""
KEYS = ["epic-1", "1-1-sign-in", "1-2-sign-out", "1-3-forgot-password",
        "epic-2", "2-1-profile-page", "2-2-avatar"]  # fmt: skip


@pytest.fixture
def sim_options(graphql_description) -> dict[str, object]:
    return {"graphql": graphql_description}


@pytest.fixture
def world_env() -> dict[str, str]:
    # Three issues a pass, the next pass soon: the bounded creation shows in a small sprint.
    return {"ORCHESTRATOR_STORY_ISSUES_PER_PASS": "3",
            "ORCHESTRATOR_STORY_ISSUES_PASS_SECONDS": "0.3"}  # fmt: skip


def story_issues(world: World) -> dict[str, list[Issue]]:
    found: dict[str, list[Issue]] = {}
    for issue in world.repository.issues.values():
        if issue.via_app is world.app and issue.pull is None:
            for key in KEYS:
                if marker("story", key) in (issue.body or ""):
                    found.setdefault(key, []).append(issue)
    return found


def labels(world: World, issue: Issue) -> list[str]:
    return [world.repository.labels[i].name for i in issue.labels]


def status_issues(world: World) -> list[Issue]:
    return [i for i in world.repository.issues.values() if i.title == TITLE and i.via_app]


def deliveries(world: World, event: str, action: str | None = None) -> list[Any]:
    return [d for d in world.sim.webhooks.deliveries
            if d.event == event and action in (None, d.action)]  # fmt: skip


async def file_on_main(world: World) -> str:
    return await world.sim.git.git(world.repository, "show", f"main:{PATH}")


async def app_commits(world: World) -> list[str]:
    log = await world.sim.git.git(world.repository, "log", "--format=%an|%s", "main")
    return [line for line in log.splitlines() if line.startswith(BOT_LOGIN)]


async def board_ready(world: World) -> None:
    world.sim.install(world.app, [world.repository], by="octo-org")
    await world.sim.push(world.repository, by="maya", files={PATH: SPRINT}, message="Sprint")
    await world.until(lambda: len(story_issues(world)) == len(KEYS), timeout=40)
    await world.until(lambda: bool(status_issues(world)) and "2-2-avatar" in (
        status_issues(world)[0].body or ""))  # fmt: skip
    await world.quiet()


async def test_a_pushed_sprint_becomes_story_issues_and_the_pinned_status_issue(world):
    await board_ready(world)
    found = story_issues(world)
    assert all(len(issues) == 1 for issues in found.values())  # one each, though passes were 3
    wanted = {"epic-1": "in-progress", "1-1-sign-in": "done", "1-2-sign-out": "ready-for-dev",
              "1-3-forgot-password": "backlog", "epic-2": "backlog",
              "2-1-profile-page": "backlog", "2-2-avatar": "backlog"}  # fmt: skip
    for key, status in wanted.items():
        assert labels(world, found[key][0]) == [f"story: {status}"], key
    assert found["1-2-sign-out"][0].title == "1-2 Sign out"
    assert PATH in (found["1-2-sign-out"][0].body or "")
    epic = found["epic-1"][0]
    assert sorted(epic.sub_issue_ids) == sorted(found[k][0].id for k in KEYS[1:4])
    assert sorted(found["epic-2"][0].sub_issue_ids) == sorted(found[k][0].id for k in KEYS[5:])
    [status] = status_issues(world)
    assert status.id in world.sim.graphql.pinned[world.repository.id]
    body = status.body or ""
    assert "1 of 5 stories done" in body and "```mermaid" in body
    number = found["1-2-sign-out"][0].number
    assert f"/issues/{number}" in body  # stories link to their issues
    # No ping-pong: the App's own label events were never taken as a person's change.
    assert await app_commits(world) == []
    assert await file_on_main(world) == SPRINT


async def test_a_persons_label_change_moves_the_story_in_the_file(world):
    await board_ready(world)
    issue = story_issues(world)["1-3-forgot-password"][0]
    world.sim.remove_label(world.repository, issue.number, by="maya", name="story: backlog")
    world.sim.add_label(world.repository, issue.number, by="maya", name="story: ready-for-dev")
    await world.quiet()
    text = await file_on_main(world)
    assert text == SPRINT.replace(
        "1-3-forgot-password: backlog", "1-3-forgot-password: ready-for-dev"
    )
    assert await app_commits(world) == [f"{BOT_LOGIN}|Story 1-3 → ready-for-dev [skip ci]"]
    await world.until(lambda: labels(world, issue) == ["story: ready-for-dev"])
    # blocked lives in the label alone; backlog takes a story out again (a person may go back)
    world.sim.add_label(world.repository, issue.number, by="maya", name="story: blocked")
    await world.quiet()
    await world.until(lambda: labels(world, issue) == ["story: blocked"])
    assert await file_on_main(world) == text
    [comment] = world.bot_comments(issue.number)
    assert "one status at a time" in comment.body
    world.sim.add_label(world.repository, issue.number, by="maya", name="story: backlog")
    await world.quiet()
    await world.until(lambda: labels(world, issue) == ["story: backlog"])
    assert await file_on_main(world) == SPRINT
    assert len(world.bot_comments(issue.number)) == 2


async def test_a_commit_that_changed_the_story_first_wins_over_a_label(world):
    """README "Labels and the file": the label change was decided on `backlog`; maya's
    commit moved the story to `review` first, so her commit stands and the label follows it."""
    await board_ready(world)
    issue = story_issues(world)["2-1-profile-page"][0]
    raced = SPRINT.replace("2-1-profile-page: backlog", "2-1-profile-page: review").replace(
        "# generated: 2026-11-30", "# generated: 2026-12-01"
    )
    await world.sim.push(world.repository, by="maya", files={PATH: raced}, message="By hand")
    world.sim.add_label(world.repository, issue.number, by="maya", name="story: in-progress")
    await world.quiet()
    await world.until(lambda: labels(world, issue) == ["story: review"])
    assert await file_on_main(world) == raced
    assert await app_commits(world) == []
    bodies = [c.body for c in world.bot_comments(issue.number)]
    assert any("stands" in b and "review" in b for b in bodies)


async def test_a_read_only_person_changes_nothing(world):
    await board_ready(world)
    issue = story_issues(world)["2-2-avatar"][0]
    world.sim.grant(world.repository, "tia", "triage")
    world.sim.add_label(world.repository, issue.number, by="tia", name="story: done")
    await world.quiet()
    await world.until(lambda: labels(world, issue) == ["story: backlog"])
    assert await file_on_main(world) == SPRINT
    [comment] = world.bot_comments(issue.number)
    assert "@tia" in comment.body and "write access" in comment.body


async def test_a_restart_mid_flow_makes_nothing_twice(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    await world.sim.push(world.repository, by="maya", files={PATH: SPRINT}, message="Sprint")
    await world.until(lambda: len(story_issues(world)) >= 3, timeout=40)
    await world.kill()  # mid-flow: more passes to come
    await world.start()  # the start-up reconcile goes on from what GitHub has
    await world.until(lambda: len(story_issues(world)) == len(KEYS), timeout=40)
    await world.until(lambda: bool(status_issues(world)))
    await world.quiet()
    issue = story_issues(world)["1-2-sign-out"][0]
    world.sim.add_label(world.repository, issue.number, by="maya", name="story: in-progress")
    await world.until(lambda: bool(world.bot_comments(issue.number)))
    await world.kill()
    await world.start()
    await world.quiet()
    found = story_issues(world)
    assert sorted(found) == sorted(KEYS) and all(len(v) == 1 for v in found.values())
    assert len(status_issues(world)) == 1
    labeled = [d for d in deliveries(world, "issues", "labeled")
               if d.payload["sender"]["login"] == BOT_LOGIN]  # fmt: skip
    assert len(labeled) == len(KEYS)  # one label event per issue, none twice
    assert len(world.bot_comments(issue.number)) == 1
    assert await app_commits(world) == [f"{BOT_LOGIN}|Story 1-2 → in-progress [skip ci]"]
    assert labels(world, issue) == ["story: in-progress"]


async def test_closing_a_story_issue_stops_it_and_reopening_brings_it_back(world):
    await board_ready(world)
    issue = story_issues(world)["1-2-sign-out"][0]
    world.sim.state.update_issue(world.repository, world.sim.state.user("maya"), issue,
                                 {"state": "closed", "state_reason": "not_planned"})  # fmt: skip
    await world.until(lambda: "closed `1-2-sign-out`: its work stops" in (
        status_issues(world)[0].body or ""))  # fmt: skip
    assert await file_on_main(world) == SPRINT  # closing is not a status: the file keeps it
    world.sim.state.update_issue(world.repository, world.sim.state.user("maya"), issue,
                                 {"state": "open"})  # fmt: skip
    await world.until(lambda: "reopened `1-2-sign-out`: its work comes back" in (
        status_issues(world)[0].body or ""))  # fmt: skip
    await world.until(lambda: labels(world, issue) == ["story: ready-for-dev"])


async def test_a_protected_default_branch_gets_the_change_as_one_state_pull_request(world):
    await board_ready(world)
    world.sim.protect_branch(world.repository, "main")
    first = story_issues(world)["2-1-profile-page"][0]
    second = story_issues(world)["2-2-avatar"][0]
    world.sim.add_label(world.repository, first.number, by="maya", name="story: ready-for-dev")
    await world.quiet()
    world.sim.add_label(world.repository, second.number, by="maya", name="story: ready-for-dev")
    await world.quiet()
    pulls = [p for p in world.sim.pulls.of(world.repository) if p.head_ref == "ao/state"]
    assert len(pulls) == 1 and pulls[0].issue.user.login == BOT_LOGIN
    on_branch = await world.sim.git.git(world.repository, "show", f"ao/state:{PATH}")
    assert "2-1-profile-page: ready-for-dev" in on_branch
    assert "2-2-avatar: ready-for-dev" in on_branch
    assert await file_on_main(world) == SPRINT  # main itself is untouched


async def test_a_sprint_status_that_cannot_be_read_is_never_written_and_escalated_once(world):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    broken = SPRINT.replace("  1-3-forgot-password: backlog\n", "  1-1-sign-in: review\n")
    await sim.push(repository, by="maya", files={PATH: broken}, message="Sprint, twice a key")
    escalations = lambda: [i for i in repository.issues.values()  # noqa: E731
                           if i.via_app and "cannot be read" in i.title]  # fmt: skip
    await world.until(lambda: bool(escalations()), timeout=40)
    # Another push that touches the file but not its problem: still one issue.
    await sim.push(repository, by="maya", files={"notes.md": "n\n"}, message="Notes")
    await world.quiet()
    [issue] = escalations()
    assert "duplicate key '1-1-sign-in'" in (issue.body or "") and "(line 7)" in (issue.body or "")
    assert f"{PATH}#L7" in (issue.body or "")
    assert await file_on_main(world) == broken and await app_commits(world) == []
    assert story_issues(world) == {}  # nothing made from a file that cannot be read
