"""End to end: a run shows as an `ao/run` check run on its branch's head, step after step;
a finished one offers Approve (the bot merges its pull request), a cancelled one Retry (it goes
on from its branch). Only people with write access can press them."""

from __future__ import annotations

import pytest

from githubsim.checks import CheckRefused
from tests.e2e.conftest import BOT_LOGIN, model_env
from tests.e2e.test_runs_from_github import seed_files

pytestmark = pytest.mark.slow


@pytest.fixture
def world_env(slow_model) -> dict[str, str]:
    return model_env(slow_model.url)


def checks_of(world, sha: str | None = None) -> list:
    return [
        run
        for repository, run in world.sim.checks.runs.values()
        if repository is world.repository and run.name == "ao/run"
        and (sha is None or run.head_sha == sha)
    ]  # fmt: skip


async def test_a_runs_check_shows_its_steps_and_approve_merges_it(world):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title="A brief", body="Write the brief.")
    sim.comment(repository, issue.number, by="maya", body="/ao start brief")
    await world.until(lambda: any(c.status == "in_progress" for c in checks_of(world)), 60)
    await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
    await world.quiet()

    [pull] = sim.pulls.of(repository)
    head = await sim.git.resolve(repository, pull.head_ref)
    # (the head's check is shown just after the pull request is opened)
    await world.until(lambda: any(c.status == "completed" for c in checks_of(world, head)), 30)
    [last] = checks_of(world, head)
    assert last.status == "completed" and last.conclusion == "success"
    assert [a["identifier"] for a in last.actions] == ["approve"]
    assert last.output["title"] == "brief: done" and "Approve merges" in last.output["summary"]
    # No check is left running: each step's commit says the run went on from it.
    assert all(c.status == "completed" for c in checks_of(world))
    earlier = [c for c in checks_of(world) if c.head_sha != head]
    assert earlier and all("the run went on" in c.output["title"] for c in earlier)

    # Someone who can only read cannot press it (GitHub shows them no button).
    with pytest.raises(CheckRefused):
        sim.press_button(repository, last, "approve", by="rita")
    sim.press_button(repository, last, "approve", by="maya")
    await world.until(lambda: pull.merged_at is not None, timeout=30)
    await world.quiet()
    assert pull.merged_by.login == BOT_LOGIN
    pressed = [c for c in world.bot_comments(issue.number) if "pressed **Approve**" in c.body]
    assert len(pressed) == 1 and f"merged #{pull.number}" in pressed[0].body


async def test_a_cancelled_runs_retry_button_goes_on_from_its_branch(world):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title="A brief, stopped", body="Write it.")
    sim.comment(repository, issue.number, by="maya", body="/ao start brief")
    await world.until(lambda: bool(checks_of(world)), timeout=60)
    sim.comment(repository, issue.number, by="maya", body="/ao cancel")
    stopped = lambda: [c for c in checks_of(world) if c.conclusion == "cancelled"]  # noqa: E731
    await world.until(lambda: bool(stopped()), timeout=60)
    [check] = stopped()
    assert [a["identifier"] for a in check.actions] == ["retry"]

    sim.press_button(repository, check, "retry", by="maya")
    await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
    await world.quiet()
    [pull] = sim.pulls.of(repository)
    assert pull.head_ref == f"ao/{issue.number}-brief"  # the same branch, gone on
    assert any("pressed **Retry**" in c.body for c in world.bot_comments(issue.number))
