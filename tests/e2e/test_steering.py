"""End to end: people steer a run from comments — pause and resume it, cancel it (its branch
stays), retry it (it continues from its branch), lift a budget pause with `/ao budget`; a
command that does not fit the run is explained and changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import World, model_env
from tests.e2e.test_runs_from_github import seed_files
from tests.runs.conftest import steps_repo

pytestmark = pytest.mark.slow
STEPS = 6  # the `parts` workflow: long enough to steer in the middle of


@pytest.fixture
def world_env(slow_model) -> dict[str, str]:
    return model_env(slow_model.url)


async def subjects(world: World, branch: str) -> list[str]:
    if f"refs/heads/{branch}" not in await world.sim.git.refs(world.repository):
        return []
    log = await world.sim.git.git(world.repository, "log", "--format=%s", branch)
    return log.strip().splitlines()


async def until_async(check, timeout: float = 90.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def said(world: World, number: int, text: str) -> list[str]:
    return [c.body for c in world.bot_comments(number) if text in c.body]


def status_of(world: World, number: int, workflow: str = "brief") -> str:
    found = [c for c in world.bot_comments(number) if f"**{workflow}**" in c.body]
    return found[0].body if found else ""


async def test_pause_resume_cancel_and_retry(world, tmp_path):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    seed = steps_repo(tmp_path / "seed", STEPS)
    files = {p.relative_to(seed).as_posix(): p.read_text() for p in seed.rglob("*") if p.is_file()}
    await sim.push(repository, by="maya", files=files, message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title="A steered report")
    elsewhere = sim.open_issue(repository, by="maya", title="Somewhere else")
    home, branch = issue.number, f"ao/{issue.number}-parts"
    status = lambda: status_of(world, home, "parts")  # noqa: E731

    async def stepped(n: int) -> bool:
        return any(f"step {n} " in s for s in await subjects(world, branch))

    sim.comment(repository, home, by="maya", body="/ao start parts")
    await until_async(lambda: stepped(1))

    # A resume of a running run is explained and changes nothing.
    sim.comment(repository, home, by="maya", body="/ao resume")
    await world.until(lambda: bool(said(world, home, "Nothing changed")))
    assert "not paused" in said(world, home, "Nothing changed")[0]

    # Paused from another issue, by naming its branch: it stops at its next step.
    sim.comment(repository, elsewhere.number, by="maya", body=f"/ao pause {branch}")
    await world.until(lambda: "paused" in status(), timeout=60)
    assert len(said(world, elsewhere.number, "⏸️")) == 1
    await world.quiet()
    held = await subjects(world, branch)
    await asyncio.sleep(2)
    assert await subjects(world, branch) == held  # nothing more while paused
    assert "paused by @maya" in status()

    sim.comment(repository, home, by="maya", body="/ao resume")
    await world.until(lambda: bool(said(world, home, "▶️")))
    await until_async(lambda: stepped(len([s for s in held if "step" in s]) + 1))

    # Cancelled: it stops; its branch stays; no pull request.
    sim.comment(repository, home, by="maya", body="/ao cancel")
    await world.until(lambda: "cancelled" in status(), timeout=60)
    await world.quiet()
    assert len(said(world, home, "run stops at its next step")) == 1
    assert "cancelled by @maya" in status()
    assert f"refs/heads/{branch}" in await sim.git.refs(repository)
    assert not sim.pulls.of(repository)
    before = await subjects(world, branch)

    # Retried: it continues from its branch, no step done twice, one pull request.
    sim.comment(repository, home, by="maya", body="/ao retry")
    await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
    await world.quiet()
    done = await subjects(world, branch)
    assert done[-len(before) :] == before
    for n in range(1, STEPS + 1):
        assert sum(f"step {n} " in s for s in done) == 1
    # The status comment follows at its own pace (edits are spaced): done soon after the PR.
    await world.until(lambda: "✅ done" in status(), timeout=60)
    assert len(sim.pulls.of(repository)) == 1

    # A retry of a done run is explained and changes nothing.
    sim.comment(repository, home, by="maya", body="/ao retry")
    await world.until(lambda: len(said(world, home, "Nothing changed")) == 2)
    await world.quiet()
    assert len(sim.pulls.of(repository)) == 1


class TestABudgetPause:
    """The run's budget is too small for a single model call: it pauses for more, and only
    an admin's `/ao budget` lifts it."""

    @pytest.fixture
    def world_env(self, anthropic_server) -> dict[str, str]:
        return model_env(anthropic_server.url) | {"ORCHESTRATOR_LLM_BUDGET_USD": "0.0001"}

    async def test_a_budget_pause_is_lifted_by_an_admin(self, world):
        sim, repository = world.sim, world.repository
        sim.grant(repository, "olga", "admin")
        sim.install(world.app, [repository], by="octo-org")
        await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
        issue = sim.open_issue(repository, by="maya", title="A costly brief")
        home = issue.number

        sim.comment(repository, home, by="maya", body="/ao start brief")
        await world.until(lambda: "paused" in status_of(world, home), timeout=60)
        await world.quiet()
        assert "budget" in status_of(world, home)
        # Not a question: no escalation issue; `/ao resume` says what lifts it.
        assert [i.number for i in repository.issues.values()] == [home]
        sim.comment(repository, home, by="maya", body="/ao resume")
        await world.until(lambda: bool(said(world, home, "/ao budget USD")))

        sim.comment(repository, home, by="maya", body="/ao budget 5")
        await world.until(lambda: bool(said(world, home, "only an admin")))
        sim.comment(repository, home, by="olga", body="/ao budget lots")
        await world.until(lambda: bool(said(world, home, "US dollars")))
        sim.comment(repository, home, by="olga", body="/ao budget 5")
        await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
        await world.quiet()
        assert len(said(world, home, "💰")) == 1 and "$5.00" in said(world, home, "💰")[0]
        [pull] = sim.pulls.of(repository)
        assert "budget was raised to $5.00 by @olga" in pull.issue.body
