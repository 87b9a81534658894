"""A small sprint through the functions the wiring will call, on the local GitHub: stories
started in parallel up to the limit, in dependency order, each reviewed and merged by
itself (`auto_merge`), dependants started as their dependencies land."""

from __future__ import annotations

import asyncio

from bot.agents.config import parse_config
from bot.project.state_commit import StateCommitter
from bot.stories.deliver import Delivered, deliver
from bot.stories.merge import Merged, merge_story
from bot.stories.order import Schedule, merge_turns, schedule
from bot.stories.review import review_pull
from bot.stories.sprint import sprint_view
from tests.stories.project import FILES, TEST_COMMAND, unittest_file

SPRINT = (
    "development_status:\n  1-1-subtract: ready-for-dev\n  1-2-multiply: ready-for-dev\n"
    "  1-3-divide: backlog\n"
)
CONFIG = f"sandbox:\n  test: {TEST_COMMAND}\nauto_merge: true\nmax_concurrent_agents: 2\n"
FUNCTIONS = {"1-1-subtract": ("subtract", "a - b", "5, 3", "2"),
             "1-2-multiply": ("multiply", "a * b", "2, 3", "6"),
             "1-3-divide": ("divide", "a / b", "6, 3", "2")}  # fmt: skip


def script(name: str, body: str, args: str, expected: str) -> list:
    test = unittest_file(name.title(), name, {f"{name}({args})": expected}).replace(
        "from calc.ops", f"from calc.{name}"
    )
    code = f"def {name}(a, b):\n    return {body}\n"
    return [[
        ("write_file", {"path": f"calc/{name}.py", "content": code}),
        ("write_file", {"path": f"tests/test_{name}.py", "content": test}),
        ("done", {"summary": f"Add {name}"}),
    ]]  # fmt: skip


async def test_a_sprint_in_dependency_order_with_two_at_a_time(stage):
    divide = FILES["docs/stories/1-3-divide.md"] + "\nDepends on: 1-2\n"
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={"docs/sprint-status.yaml": SPRINT, ".github/orchestrator.yml": CONFIG,
               "docs/stories/1-3-divide.md": divide},
    )  # fmt: skip
    for key, parts in FUNCTIONS.items():
        stage.model.scripts[key] = script(*parts)
    place = stage.place
    state = StateCommitter(place.remote, place.identity, "docs/sprint-status.yaml", "main")
    config = parse_config(CONFIG, {}, check_models=False)
    started: list[tuple[str, ...]] = []
    for _ in range(3):
        view = await sprint_view(state)
        plan = schedule(view.statuses, view.deps, (), config.max_concurrent_agents)
        assert isinstance(plan, Schedule)
        if not plan.start:
            break
        started.append(plan.start)
        results = await asyncio.gather(*(deliver(place, stage.means, k) for k in plan.start))
        assert all(isinstance(r, Delivered) for r in results), results
        pulls = {r.key: r for r in results if isinstance(r, Delivered)}
        for key, pull in pulls.items():
            assert (await review_pull(place, stage.means, key, pull.pull_number)).passed
        await stage.sim.settle()
        files = {k: [f"calc/{FUNCTIONS[k][0]}.py"] for k in pulls}
        for key in merge_turns(files):
            merged = await merge_story(
                place, key, pulls[key].pull_number, auto_merge=config.auto_merge,
                method=config.merge_method, state=state,
            )  # fmt: skip
            assert isinstance(merged, Merged), merged
    assert started == [("1-1-subtract", "1-2-multiply"), ("1-3-divide",)]
    final = await sprint_view(state)
    assert dict(final.statuses) == dict.fromkeys(FUNCTIONS, "done")
    assert all([p["merged_at"] for p in await stage.pulls()]) and len(await stage.pulls()) == 3
    assert place.worktrees.stories() == []
    for name, *_ in FUNCTIONS.values():
        assert f"def {name}" in await stage.on_github("main", f"calc/{name}.py")


async def test_a_view_git_could_not_read_whole_is_read_again(stage, monkeypatch):
    """A commit's view is read once and kept, but not when git failed to read part of it:
    the story files unreadable this once (a fault injected), the next pass reads them."""
    from bot.git.remote import GitFailed
    from bot.stories import sprint

    divide = FILES["docs/stories/1-3-divide.md"] + "\nDepends on: 1-2\n"
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={"docs/sprint-status.yaml": SPRINT, "docs/stories/1-3-divide.md": divide},
    )  # fmt: skip
    state = StateCommitter(stage.place.remote, stage.place.identity, "docs/sprint-status.yaml",
                           "main")  # fmt: skip
    real, failing = sprint.read_files, [True]

    async def flaky(clone, commit, paths, *, strict=False):
        if failing[0] and "docs/sprint-status.yaml" not in paths:
            raise GitFailed(("cat-file", "--batch"), 128, "fatal: unable to read tree")
        return await real(clone, commit, paths, strict=strict)

    monkeypatch.setattr(sprint, "read_files", flaky)
    first = await sprint_view(state)
    assert "1-3-divide" in first.statuses and not first.deps.get("1-3-divide")
    failing[0] = False
    again = await sprint_view(state)
    assert again.tip == first.tip and again.deps["1-3-divide"] == ("1-2-multiply",)
    assert await sprint_view(state) is again  # read whole: kept for this commit
