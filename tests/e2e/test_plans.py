"""End to end: `/ao start plan` runs the install's planning chain, one run per workflow, each
ending in its pull request; a phase gated `approve` waits for `/ao approve`, the phases gated
`auto` merge themselves, and each later phase reads the earlier documents from the default
branch. The real server as a subprocess, the local GitHub, git over HTTP, the protocol-true
model server."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import model_env
from tests.support import ROOT

pytestmark = pytest.mark.slow

PLAN = ROOT / "tests/fixtures/plan"
BOT = "agent-orchestrator[bot]"


@pytest.fixture
def world_env(anthropic_server) -> dict[str, str]:
    return model_env(anthropic_server.url)


def seed_files() -> dict[str, str]:
    return {p.relative_to(PLAN).as_posix(): p.read_text() for p in PLAN.rglob("*") if p.is_file()}


async def test_a_plan_goes_phase_by_phase_through_merges(world, anthropic_server):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=seed_files(), message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title="A to-do app for the terminal",
                           body="Teams lose track of to-dos. Plan it.")  # fmt: skip
    said = lambda: "\n".join(c.body for c in world.bot_comments(issue.number))  # noqa: E731
    plan = lambda: next(c.body for c in world.bot_comments(issue.number) if "ao:plan:" in c.body)  # noqa: E731
    pulls = lambda: sim.pulls.of(repository)  # noqa: E731

    sim.comment(repository, issue.number, by="maya", body="/ao start plan")
    await world.until(lambda: "ao:plan:" in said())
    assert "`create-prd` | 2-planning | approve" in plan()
    # The requirements run ends in its pull request, which waits for a person.
    await world.until(lambda: "waiting for a person" in plan(), timeout=120)
    [prd] = pulls()
    assert prd.head_ref == f"ao/{issue.number}-create-prd" and prd.merged_at is None
    await world.quiet()
    branches = [r for r in await sim.git.refs(repository) if "create-architecture" in r]
    assert branches == []  # the next phase has not started

    # A person approves: the bot merges the phase, and the later (auto) phases follow.
    sim.comment(repository, issue.number, by="maya", body="/ao approve")
    await world.until(lambda: "✅ done: every phase is merged" in plan(), timeout=180)
    await world.quiet()
    merged = sorted(pulls(), key=lambda p: p.number)
    assert [p.head_ref for p in merged] == [
        f"ao/{issue.number}-create-prd",
        f"ao/{issue.number}-create-architecture",
        f"ao/{issue.number}-sprint-planning",
    ]
    assert all(p.merged_at is not None and p.merged_by.login == BOT for p in merged)
    assert "Approved by @maya" in said()
    files = (await sim.git.git(repository, "ls-tree", "-r", "--name-only", "main")).split()
    assert {"docs/prd.md", "docs/architecture.md", "docs/sprint-plan.md"} <= set(files)
    # Each later phase was run on the default branch with the earlier phases merged: the
    # architecture run's branch started from the merge of the requirements.
    base = await sim.git.git(repository, "merge-base", "main", merged[1].head_ref)
    assert "docs/prd.md" in await sim.git.git(
        repository, "ls-tree", "-r", "--name-only", base.strip()
    )
    # One status comment per run, one plan comment: nothing posted twice.
    runs = [c for c in world.bot_comments(issue.number) if "ao:run:" in c.body]
    assert len(runs) == 3 and said().count("ao:plan:") == 1


async def test_an_install_without_a_chain_is_explained_and_nothing_starts(world):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    files = {k: v for k, v in seed_files().items() if "sprint-planning" not in k}
    await sim.push(repository, by="maya", files=files, message="Install BMAD")
    issue = sim.open_issue(repository, by="maya", title="Plan", body="x")
    sim.comment(repository, issue.number, by="maya", body="/ao start plan")
    said = lambda: "\n".join(c.body for c in world.bot_comments(issue.number))  # noqa: E731
    await world.until(lambda: "cannot start a plan" in said())
    assert "no planning chain ending in sprint planning: create-prd, create-architecture" in said()
    await world.quiet()
    assert not [r for r in await sim.git.refs(repository) if r.startswith("refs/heads/ao/")]
