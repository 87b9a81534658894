"""The sprint reconciler where a pass and a story's work overlap: what a pass read before a
story's work ended is old by the time it decides, so it leaves that story to the pass the
work's end asked for (twenty stories at once in bench/sprint.py delivered a story twice)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import bot.stories.sprints as sprints_module
from bot.project.board_sync import BoardSync
from bot.runs.github_home import GitHubHome
from bot.stories.sprints import Sprints
from tests.stories.project import FILES
from tests.stories.test_sprint import FUNCTIONS, script
from tests.stories.test_sprints import CONFIG, SPRINT_PATH, until
from tests.support import APP_ID

KEY = "1-1-subtract"


async def test_a_story_whose_delivery_ends_during_a_pass_is_not_delivered_again(
    stage, monkeypatch, caplog
):
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={SPRINT_PATH: f"development_status:\n  {KEY}: ready-for-dev\n",
               ".github/orchestrator.yml": CONFIG,
               "docs/stories/1-1-subtract.md": FILES["docs/stories/1-1-subtract.md"]},
    )  # fmt: skip
    stage.model.scripts[KEY] = script(*FUNCTIONS[KEY])
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.3)
    data = dict(await stage.place.gh.getitem(f"/repos/{stage.repository.full_name}"))
    name = str(data["full_name"])
    real = sprints_module.story_pulls
    held: list[asyncio.Task[None]] = []

    async def story_pulls(gh: Any, full_name: str) -> dict[str, dict[str, Any]]:
        """The pull requests as they are now; then, once, the story's delivery ends before
        the pass goes on with what it read (its draft pull request, `in-progress`)."""
        pulls = await real(gh, full_name)
        work = sprints._repos[name].work.get(KEY)
        if work is not None and not held:
            held.append(work)
            await asyncio.wait([work])
        return pulls

    monkeypatch.setattr(sprints_module, "story_pulls", story_pulls)
    caplog.set_level(logging.INFO, logger="bot.stories.sprints")
    try:
        sprints.wake(stage.installation_id, data)  # the first pass starts the delivery
        await until(lambda: _working(sprints, name), 30)
        sprints.wake(stage.installation_id, data)  # a pass that reads while it works
        await until(lambda: _reviewed(stage))
        await until(lambda: _settled(sprints, name, held), 60)
    finally:
        await sprints.close()
        await board.close()
    assert held, "no pass overlapped the delivery"
    started = [r for r in caplog.records if r.getMessage() == "a story started"]
    assert len(started) == 1, started
    pulls = [p for p in await stage.pulls() if p["head"]["ref"] == f"story/{KEY}"]
    assert len(pulls) == 1 and not pulls[0]["draft"]


async def _working(sprints: Sprints, name: str) -> bool:
    repo = sprints._repos.get(name)
    return repo is not None and KEY in repo.work


async def _reviewed(stage: Any) -> bool:
    text = await stage.on_github("main", SPRINT_PATH)
    return f"{KEY}: review" in text


async def _settled(sprints: Sprints, name: str, held: list[asyncio.Task[None]]) -> bool:
    """The held pass has gone on and decided (the lock is free again)."""
    return bool(held) and not sprints._repos[name].lock.locked()


async def test_a_merge_a_restart_cut_short_is_finished_by_the_next_pass(stage):
    """The server died between a merged story's `done` commit and its worktree's removal and
    its issue's closing: the next reconciler's pass does both. A done story's issue a person
    reopened stays open (theirs to close)."""
    files = {SPRINT_PATH: f"development_status:\n  {KEY}: done\n  1-2-multiply: done\n",
             ".github/orchestrator.yml": CONFIG}  # fmt: skip
    await stage.sim.push(stage.repository, by="mona", message="The sprint", files=files)
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    data = dict(await stage.place.gh.getitem(f"/repos/{stage.repository.full_name}"))
    await board.sync(board.repository(stage.installation_id, data))  # the story issues
    issues = {key: await _story_issue(stage, key) for key in (KEY, "1-2-multiply")}
    assert all(i["state"] == "open" for i in issues.values())
    number = issues["1-2-multiply"]["number"]
    stage.sim.close(stage.repository, number, by="mona")
    stage.sim.reopen(stage.repository, number, by="mona")
    await stage.place.remote.sync()
    worktree = await stage.place.worktrees.ensure(KEY, "refs/remotes/origin/main")
    sprints = Sprints(board, stage.means, again_s=0.3)
    try:
        sprints.wake(stage.installation_id, data)
        await sprints.idle()
    finally:
        await sprints.close()
        await board.close()
    assert not worktree.exists() and stage.place.worktrees.stories() == []
    assert (await _story_issue(stage, KEY))["state"] == "closed"
    assert (await _story_issue(stage, "1-2-multiply"))["state"] == "open"


async def _story_issue(stage: Any, key: str) -> dict[str, Any]:
    url = f"/repos/{stage.repository.full_name}/issues?state=all"
    async for issue in stage.place.gh.getiter(url):
        if "pull_request" not in issue and f"ao:story:{key} " in (issue["body"] or ""):
            return dict(issue)
    raise AssertionError(f"no issue for {key}")
