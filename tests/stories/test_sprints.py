"""The sprint reconciler on the local GitHub: a story ready for development is delivered,
reviewed, merged on a person's approval, and its dependant starts by itself; a pass after a
restart (a new reconciler) duplicates nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.commands.parse import Command
from bot.commands.registry import CommandRequest
from bot.project.board_sync import BoardSync
from bot.project.location import DEFAULT
from bot.runs.github_home import GitHubHome
from bot.stories.sprint import sprint_view
from bot.stories.sprints import Sprints
from tests.stories.project import FILES, TEST_COMMAND
from tests.stories.test_sprint import FUNCTIONS, script
from tests.support import APP_ID

SPRINT_PATH = DEFAULT  # where BMAD keeps it when the install says nothing
SPRINT = "development_status:\n  1-1-subtract: ready-for-dev\n  1-2-multiply: backlog\n"
CONFIG = f"sandbox:\n  test: {TEST_COMMAND}\nmax_concurrent_agents: 2\n"


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "the sprint did not get there"
        await asyncio.sleep(0.2)


async def test_a_sprint_runs_itself_from_ready_for_dev_to_done(stage):
    multiply = FILES["docs/stories/1-2-multiply.md"] + "\nDepends on: 1-1\n"
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={SPRINT_PATH: SPRINT, ".github/orchestrator.yml": CONFIG,
               "docs/stories/1-2-multiply.md": multiply},
    )  # fmt: skip
    for key in ("1-1-subtract", "1-2-multiply"):
        stage.model.scripts[key] = script(*FUNCTIONS[key])
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.3)
    data = dict(await stage.place.gh.getitem(f"/repos/{stage.repository.full_name}"))
    board.wake(stage.installation_id, data)

    async def ready(key: str) -> dict | None:
        for pull in await stage.pulls():
            if pull["head"]["ref"] == f"story/{key}" and not pull["draft"]:
                checks = await stage.place.gh.getitem(
                    f"/repos/{stage.repository.full_name}/commits/{pull['head']['sha']}/check-runs"
                )
                names = {c["name"]: c["status"] for c in checks["check_runs"]}
                if names.get("ao/review") == "completed":
                    return pull
        return None

    try:
        for key in ("1-1-subtract", "1-2-multiply"):
            await until(lambda k=key: ready(k))  # delivered, reviewed; waits for a person
            pull = await ready(key)
            assert pull is not None and pull["state"] == "open"
            await stage.sim.settle()
            await stage.sim.review(stage.repository, pull["number"], by="mona", event="APPROVE")
            await until(lambda k=key: _merged(stage, k))
        await until(lambda: _all_done(stage))  # the merge recorded in the file
        await until(lambda: _issues_closed(stage))  # ... and finished: worktrees gone first
        await sprints.close()
        await board.close()
        # A restart: a new reconciler's pass finds everything done and makes nothing.
        again = Sprints(BoardSync(home, stage.data_dir), stage.means)
        again.wake(stage.installation_id, data)
        await again.idle()
    finally:
        await sprints.close()
        await board.close()
    state = await _state(home, stage, data)
    assert dict((await sprint_view(state)).statuses) == {
        "1-1-subtract": "done", "1-2-multiply": "done"
    }  # fmt: skip
    pulls = await stage.pulls()
    assert sorted(p["head"]["ref"] for p in pulls) == ["story/1-1-subtract", "story/1-2-multiply"]
    assert all(p["merged_at"] for p in pulls)
    assert stage.place.worktrees.stories() == []
    issues = [i async for i in stage.place.gh.getiter(
        f"/repos/{stage.repository.full_name}/issues?state=all")]  # fmt: skip
    titles = [i["title"] for i in issues]
    assert len(titles) == len(set(titles)), titles
    for pull in pulls:
        reviews = await stage.place.gh.getitem(f"{pull['url']}/reviews")
        assert [r["state"] for r in reviews].count("COMMENTED") == 1
        assert ("ao/story", "success") in _checks(stage, str(pull["head"]["sha"]))


def _checks(stage, sha: str) -> list[tuple[str, str | None]]:
    return [(r.name, r.conclusion) for r in stage.sim.checks.runs_for(stage.repository, sha)]


async def _all_done(stage) -> bool:
    text = await stage.on_github("main", SPRINT_PATH)
    return "1-1-subtract: done" in text and "1-2-multiply: done" in text


async def _issues_closed(stage) -> bool:
    url = f"/repos/{stage.repository.full_name}/issues?state=all"
    stories = [i async for i in stage.place.gh.getiter(url)
               if "pull_request" not in i and "ao:story:1-" in (i["body"] or "")]  # fmt: skip
    return len(stories) == 2 and all(i["state"] == "closed" for i in stories)


async def _merged(stage, key: str) -> bool:
    return any(p["merged_at"] for p in await stage.pulls() if p["head"]["ref"] == f"story/{key}")


async def _state(home, stage, data):
    from bot.project.state_commit import StateCommitter

    return StateCommitter(home.remote(BoardSync(home, stage.data_dir).repository(
        stage.installation_id, data).home), stage.place.identity, SPRINT_PATH,
        "main")  # fmt: skip


async def test_a_blocked_story_is_escalated_once_and_a_retry_goes_on_from_its_branch(stage):
    key, full = "1-3-divide", stage.repository.full_name
    config = f"sandbox:\n  test: {TEST_COMMAND}\ndeveloper:\n  iterations: 1\n"
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={SPRINT_PATH: f"development_status:\n  {key}: ready-for-dev\n",
               ".github/orchestrator.yml": config},
    )  # fmt: skip
    wrong = script("divide", "a * b", "6, 3", "2")
    stage.model.scripts[key] = wrong
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.3)
    data = dict(await stage.place.gh.getitem(f"/repos/{full}"))
    gh = stage.place.gh

    async def issues() -> list[dict]:
        return [dict(i) async for i in gh.getiter(f"/repos/{full}/issues?state=all")]

    async def escalations() -> list[dict]:
        return [i for i in await issues() if i["title"] == f"Story {key} is blocked"]

    async def story() -> dict:
        found = [i for i in await issues() if "pull_request" not in i]
        return next(i for i in found if f"ao:story:{key} " in (i["body"] or ""))

    try:
        board.wake(stage.installation_id, data)
        await until(lambda: _has(escalations))
        [escalation] = await escalations()
        assert "What fails" in escalation["body"] and f"story/{key}" in escalation["body"]
        await until(lambda: _labelled(story, "story: blocked"))
        before = await stage.subjects(f"story/{key}")
        blocked_head = await stage.sim.git.git(stage.repository, "rev-parse", f"story/{key}")
        assert ("ao/story", "failure") in _checks(stage, blocked_head.strip())
        asked = len(stage.model.requests)
        for _ in range(2):  # more passes start nothing and say nothing again
            sprints.wake(stage.installation_id, data)
            await sprints.idle()
        assert len(stage.model.requests) == asked and len(await escalations()) == 1

        stage.model.scripts[key] = script("divide", "a / b", "6, 3", "2")
        issue = await story()
        said = await sprints.retry(_request(full, issue["number"], stage.installation_id))
        assert said is not None and "goes on" in said
        await until(lambda: _labelled(story, "story: review"))
        board.wake(stage.installation_id, data)
        await until(lambda: _labelled(story, "story: review"))
        after = await stage.subjects(f"story/{key}")
        assert after[: len(before)] == before and len(after) > len(before)
    finally:
        await sprints.close()
        await board.close()


def _request(full: str, number: int, installation_id: int) -> CommandRequest:
    return CommandRequest(
        Command("retry", ()), "mona", full, number, "d1", "", installation_id=installation_id
    )


async def _has(found: Callable[[], Awaitable[list[dict]]]) -> bool:
    return bool(await found())


async def _labelled(story: Callable[[], Awaitable[dict]], label: str) -> bool:
    return label in [lab["name"] for lab in (await story())["labels"]]


async def test_a_persons_changes_requested_is_addressed_before_the_merge(stage):
    key, full = "1-1-subtract", stage.repository.full_name
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={SPRINT_PATH: f"development_status:\n  {key}: ready-for-dev\n",
               ".github/orchestrator.yml": CONFIG},
    )  # fmt: skip
    stage.model.scripts[key] = script(*FUNCTIONS[key])
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.3)
    data = dict(await stage.place.gh.getitem(f"/repos/{full}"))

    async def reviewed() -> dict | None:
        for pull in await stage.pulls():
            runs = stage.sim.checks.runs_for(stage.repository, str(pull["head"]["sha"]))
            done = {r.name for r in runs if r.status == "completed"}
            if not pull["draft"] and {"ao/review", "ci"} <= done and pull["state"] == "open":
                return pull
        return None

    try:
        board.wake(stage.installation_id, data)
        await until(reviewed)
        pull = await reviewed()
        assert pull is not None
        stage.model.scripts[key] = [[
            ("edit_file", {"path": "calc/subtract.py", "old": "return a - b",
                           "new": "return int(a) - int(b)"}),
            ("done", {"summary": "Subtract numbers only"}),
        ]]  # fmt: skip
        await stage.sim.review(
            stage.repository, pull["number"], by="mona", event="REQUEST_CHANGES",
            body="Not yet.", comments=[{"path": "calc/subtract.py", "line": 2, "side": "RIGHT",
                                        "body": "Make it int(a) - int(b)."}],
        )  # fmt: skip
        sprints.wake(stage.installation_id, data)  # what the review's webhook does

        async def answered() -> bool:
            simmed = stage.sim.pulls.get(stage.repository, pull["number"])
            return simmed is not None and len(simmed.review_comments) == 2

        await until(answered)
        await until(lambda: _new_head_reviewed(stage, reviewed, str(pull["head"]["sha"])))
        assert "int(a) - int(b)" in await stage.on_github(f"story/{key}", "calc/subtract.py")
        assert not await _merged(stage, key)  # mona's changes requested still stand
        again = await reviewed()
        assert again is not None
        await stage.sim.review(stage.repository, again["number"], by="mona", event="APPROVE")
        await until(lambda: _merged(stage, key))
    finally:
        await sprints.close()
        await board.close()
    assert len(await stage.pulls()) == 1


async def _new_head_reviewed(stage, reviewed, old: str) -> bool:
    pull = await reviewed()
    return pull is not None and pull["head"]["sha"] != old


async def test_a_dependency_cycle_is_one_escalation_and_starts_nothing(stage):
    full = stage.repository.full_name
    files = {
        SPRINT_PATH: "development_status:\n  1-1-subtract: ready-for-dev\n"
        "  1-2-multiply: ready-for-dev\n",
        ".github/orchestrator.yml": CONFIG,
        "docs/stories/1-1-subtract.md": FILES["docs/stories/1-1-subtract.md"]
        + "\nDepends on: 1-2\n",
        "docs/stories/1-2-multiply.md": FILES["docs/stories/1-2-multiply.md"]
        + "\nDepends on: 1-1\n",
    }
    await stage.sim.push(stage.repository, by="mona", message="A ring", files=files)
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means)
    data = dict(await stage.place.gh.getitem(f"/repos/{full}"))
    try:
        for _ in range(2):
            sprints.wake(stage.installation_id, data)
            await sprints.idle()
    finally:
        await sprints.close()
        await board.close()
    issues = [i async for i in stage.place.gh.getiter(f"/repos/{full}/issues?state=all")]
    [ring] = [i for i in issues if "ring" in i["title"]]
    assert "1-1-subtract → 1-2-multiply → 1-1-subtract" in ring["body"]
    assert await stage.pulls() == []


async def test_a_board_pass_checks_out_the_default_branch_only_when_it_moved(stage, monkeypatch):
    """The board reads the sprint from a checkout of the default branch: a pass that finds
    the branch where the last one left it runs no checkout (a sprint makes dozens of
    passes), one after a push reads the new commit."""
    import bot.project.board_sync as board_sync

    files = {SPRINT_PATH: SPRINT, ".github/orchestrator.yml": CONFIG}
    await stage.sim.push(stage.repository, by="mona", message="The sprint", files=files)
    board = BoardSync(GitHubHome(stage.clients, stage.data_dir, APP_ID), stage.data_dir)
    data = dict(await stage.place.gh.getitem(f"/repos/{stage.repository.full_name}"))
    repo = board.repository(stage.installation_id, data)
    ran: list[str] = []
    real = board_sync.git

    async def git(*args, **kwargs):
        ran.append(args[0])
        return await real(*args, **kwargs)

    monkeypatch.setattr(board_sync, "git", git)
    try:
        await board.sync(repo)  # the checkout made
        ran.clear()
        await board.sync(repo)
        assert "checkout" not in ran and "clean" not in ran
        moved = SPRINT.replace("1-2-multiply: backlog", "1-2-multiply: ready-for-dev")
        await stage.sim.push(stage.repository, by="mona", message="Ready",
                             files={SPRINT_PATH: moved})  # fmt: skip
        await board.sync(repo)
        assert ran.count("checkout") == 1
        checkout = stage.data_dir / "worktrees" / "board" / stage.repository.full_name
        assert (checkout / SPRINT_PATH).read_text() == moved
    finally:
        await board.close()
