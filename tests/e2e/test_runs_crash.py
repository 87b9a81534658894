"""A run from GitHub survives SIGKILL of the server at three seeded points — mid-step, between
a step's commit and its push, and right after the pull request was opened — with the same
final state a person sees, and no duplicate comment, commit or pull request."""

from __future__ import annotations

import asyncio
import collections

import pytest

from bot.engine.outputs import steps_completed
from bot.git.remote import git
from tests.e2e.conftest import model_env
from tests.e2e.test_runs_from_github import seed_files

pytestmark = pytest.mark.slow


@pytest.fixture
def world_env(slow_model) -> dict[str, str]:
    # A killed server's job is taken over as soon as its lease runs out.
    return model_env(slow_model.url) | {"ORCHESTRATOR_JOB_LEASE_SECONDS": "2"}


async def until(check, timeout: float = 90.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("point", ["mid-step", "between-commit-and-push", "after-pull-request"])
async def test_sigkill_at_a_seeded_point_ends_as_an_uninterrupted_run(
    world, slow_model, point, tmp_path
):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title=f"Brief ({point})")
    branch = f"ao/{issue.number}-brief"

    async def subjects() -> list[str]:
        if f"refs/heads/{branch}" not in await sim.git.refs(repository):
            return []
        log = await sim.git.git(repository, "log", "--format=%an|%s", branch)
        return [s for a, s in (line.split("|", 1) for line in log.splitlines()) if "[bot]" in a]

    async def pushed(step: int) -> bool:
        return any(f"step {step} " in s for s in await subjects())

    if point == "between-commit-and-push":
        sim.git_http.faults.refuse_next_push()  # step 1's commit stays on the server's disk
    sim.comment(repository, issue.number, by="maya", body="/ao start brief")
    if point == "mid-step":
        await until(lambda: pushed(1))

        async def answering() -> bool:
            return sum(slow_model.in_flight.values()) > 0

        await until(answering)  # step 2's model call is under way
    elif point == "between-commit-and-push":

        async def refused() -> bool:
            return not sim.git_http.faults.refuse_pushes and not await pushed(1)

        await until(refused)
        await asyncio.sleep(0.3)  # committed on the server's disk, refused by GitHub
    else:

        async def opened() -> bool:
            return bool(sim.pulls.of(repository))

        await until(opened)
    if point == "mid-step":
        assert not await pushed(2)
    if point == "between-commit-and-push":
        [checkout] = (tmp_path / "data/worktrees/runs").iterdir()
        local = await git("log", "--format=%s", cwd=checkout)
        assert "brief: step 1" in local and not await pushed(1)
    await world.kill()
    await world.start()  # the same data dir: the job is taken over when its lease runs out

    async def finished() -> bool:
        return any("✅ done" in c.body for c in world.bot_comments(issue.number))

    await until(finished, timeout=120)
    await world.quiet()

    # What a person sees is what an uninterrupted run leaves.
    assert len(sim.pulls.of(repository)) == 1
    [pull] = sim.pulls.of(repository)
    assert pull.head_ref == branch
    statuses = [c for c in world.bot_comments(issue.number) if "**brief**" in c.body]
    assert len(statuses) == 1 and f"/pull/{pull.number}" in statuses[0].body
    done = await subjects()
    counts = collections.Counter(s.split(" — ")[0] for s in done)
    assert counts == {"brief: step 1": 1, "brief: step 2": 1, "brief: step 3": 1}, done
    brief = await sim.git.git(repository, "show", f"{branch}:docs/brief.md")
    assert steps_completed(brief) == [1, 2, 3]
