"""End to end: a maintainer comments `/ao start` on an issue and ends with a pull request by
the App — the real server as a subprocess, the local GitHub with git over HTTP, a job in the
queue, a worker, persona agents on the Anthropic-protocol server; asserted on what a person
then sees on GitHub."""

from __future__ import annotations

import asyncio
import datetime
import json
import shutil

import pytest

from bot.engine.outputs import steps_completed
from tests.e2e.conftest import model_env
from tests.support import ROOT

pytestmark = pytest.mark.slow

SMOKE = ROOT / "tests/fixtures/smoke/repo"


@pytest.fixture
def world_env(anthropic_server) -> dict[str, str]:
    # Writes to one installation a second apart, as the server paces them on github.com: the
    # command's answer and the run's first status edit must not race into two comments.
    return model_env(anthropic_server.url) | {"ORCHESTRATOR_WRITE_INTERVAL_SECONDS": "1"}


def seed_files() -> dict[str, str]:
    return {p.relative_to(SMOKE).as_posix(): p.read_text() for p in SMOKE.rglob("*") if p.is_file()}


async def test_start_on_an_issue_ends_in_one_pull_request_by_the_app(world, tmp_path):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title="A product brief for todo",
                           body="Teams lose track of to-dos. Write the brief.")  # fmt: skip

    # A name that is not a workflow is explained, and changes nothing.
    sim.comment(repository, issue.number, by="maya", body="/ao start breif")
    said = lambda: " ".join(c.body for c in world.bot_comments(issue.number))  # noqa: E731
    await world.until(lambda: "Did you mean" in said())
    assert not [r for r in await sim.git.refs(repository) if r.startswith("refs/heads/ao/")]

    sim.comment(repository, issue.number, by="maya", body="/ao start brief")
    status = lambda: [c for c in world.bot_comments(issue.number) if "**brief**" in c.body]  # noqa: E731
    await world.until(lambda: status() and "✅ done" in status()[0].body, timeout=120)
    await world.quiet()

    # One status comment, edited as the run went, ending with the pull request.
    [comment] = status()
    [pull] = sim.pulls.of(repository)
    assert pull.issue.user.login == "agent-orchestrator[bot]"
    assert pull.head_ref == f"ao/{issue.number}-brief" and pull.base_ref == "main"
    assert f"/pull/{pull.number}" in comment.body and "✅ done" in comment.body
    # A commit per step on the run branch, by the App, each with the run's state as it was.
    log = await sim.git.git(repository, "log", "--format=%an|%s", f"ao/{issue.number}-brief")
    commits = [line.split("|", 1) for line in log.strip().splitlines()]
    assert [s for a, s in commits if a == "agent-orchestrator[bot]"] == [
        "brief: step 3 — Set the scope",
        "brief: step 2 — Describe the users",
        "brief: step 1 — Write the vision",
    ]
    # The pull request carries the document, the decision log and the run state.
    changed = await sim.git.git(repository, "diff", "--name-only", f"main...{pull.head_ref}")
    files = set(changed.split())
    folder = f"_bmad-output/ao-runs/{issue.number}-brief"
    assert {"docs/brief.md", f"{folder}/decisions.md", f"{folder}/run.json"} <= files
    assert "docs/brief.md" in pull.issue.body and "policy" in pull.issue.body
    state = json.loads(await sim.git.git(repository, "show", f"{pull.head_ref}:{folder}/run.json"))
    assert state["run_id"] and state["checkpoint"]["status"] == "done"

    # The installation token never reached a file, the log or the clone's config.
    data = tmp_path / "data"
    on_disk = (
        "".join(p.read_text(errors="replace") for p in data.rglob("config") if p.is_file())
        + world.log()
    )
    for token in sim.auth.tokens:
        assert token not in on_disk

    # Asked again (a redelivery, a second comment): still one pull request.
    sim.comment(repository, issue.number, by="maya", body="/ao status")
    await world.until(lambda: "Runs in" in said())
    await world.quiet()
    assert len(sim.pulls.of(repository)) == 1


class TestWithTokensThatExpireEveryFewSeconds:
    """Installation tokens last 3 s on this local GitHub: every fetch, push and API call of
    a run must get a fresh one, and the run still finishes."""

    @pytest.fixture
    def sim_options(self) -> dict[str, object]:
        return {"token_lifetime": datetime.timedelta(seconds=3)}

    async def test_a_run_still_finishes(self, world):
        sim, repository = world.sim, world.repository
        sim.install(world.app, [repository], by="octo-org")
        await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
        issue = sim.open_issue(repository, by="maya", title="Brief, slowly")
        sim.comment(repository, issue.number, by="maya", body="/ao start brief")
        await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
        await world.quiet()
        [pull] = sim.pulls.of(repository)
        assert pull.head_ref == f"ao/{issue.number}-brief"
        # Each token outlived by the run: the bot asked for new ones all along.
        assert len(sim.auth.tokens) >= 4


class TestGoingOnFromTheBranchAlone:
    """The server is killed mid-run and its data dir is lost; the branch on GitHub is all that
    is left. Started again from the same issue, the run goes on on that branch: the steps
    it did are not done again, and it ends in the same document and one pull request."""

    @pytest.fixture
    def world_env(self, slow_model) -> dict[str, str]:
        return model_env(slow_model.url)

    async def test_a_run_goes_on_from_its_branch_after_its_data_dir_is_lost(self, world, tmp_path):
        sim, repository = world.sim, world.repository
        sim.install(world.app, [repository], by="octo-org")
        await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
        issue = sim.open_issue(repository, by="maya", title="A brief, interrupted")
        branch = f"ao/{issue.number}-brief"

        async def subjects() -> list[str]:
            if f"refs/heads/{branch}" not in await sim.git.refs(repository):
                return []
            log = await sim.git.git(repository, "log", "--format=%s", branch)
            return log.strip().splitlines()

        sim.comment(repository, issue.number, by="maya", body="/ao start brief")
        async with asyncio.timeout(60):
            while not any("step 1" in s for s in await subjects()):
                await asyncio.sleep(0.05)
        await world.kill()  # mid-run: step 2 is under way
        shutil.rmtree(tmp_path / "data")  # and the server's disk is gone with it
        await world.start()
        sim.comment(repository, issue.number, by="maya", body="/ao start brief")
        await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
        await world.quiet()

        [pull] = sim.pulls.of(repository)
        assert pull.head_ref == branch  # the same branch, gone on with
        done = await subjects()
        assert sum("step 1" in s for s in done) == 1  # not done again
        assert any("step 3" in s for s in done)
        brief = await sim.git.git(repository, "show", f"{branch}:docs/brief.md")
        assert steps_completed(brief) == [1, 2, 3]
        for goal in ("Write the vision", "Describe the users", "Set the scope"):
            assert brief.count(goal) >= 1
