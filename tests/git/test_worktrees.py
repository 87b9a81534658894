"""Story worktrees on a real clone: made from the default branch, reused or repaired after a
crash, removed with their branch, orphans swept; git runs off the event loop."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import pytest

from bot.git.worktrees import Worktrees
from tests.git.conftest import git

BASE = "origin/main"


async def test_a_story_gets_a_worktree_on_its_branch_from_the_default_tip(worktrees: Worktrees):
    path = await worktrees.ensure("1-1-login", BASE)
    assert path == worktrees.root / "1-1-login"
    assert git(path, "branch", "--show-current") == "story/1-1-login"
    assert git(path, "rev-parse", "HEAD") == git(worktrees.clone, "rev-parse", BASE)
    assert (path / "src/0/f0.txt").read_text() == "file 0\n"
    assert worktrees.stories() == ["1-1-login"]


async def test_an_existing_worktree_is_reused_with_its_work(worktrees: Worktrees):
    path = await worktrees.ensure("1-1-login", BASE)
    (path / "wip.txt").write_text("uncommitted")
    git(path, "commit", "-q", "--allow-empty", "-m", "story work")
    head = git(path, "rev-parse", "HEAD")
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert (path / "wip.txt").read_text() == "uncommitted"
    assert git(path, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(
    "lock",
    [
        "index.lock",
        "HEAD.lock",
        "config.lock",
        "packed-refs.lock",
        "refs/heads/story/1-1-login.lock",
        "worktrees/1-1-login/index.lock",
        "worktrees/1-1-login/HEAD.lock",
    ],
)
async def test_stale_locks_left_by_a_crash_are_cleared(worktrees: Worktrees, lock):
    path = await worktrees.ensure("1-1-login", BASE)
    stale = worktrees.git_dir / lock
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert not stale.exists()
    (path / "new.txt").write_text("x")
    git(path, "add", "new.txt")  # the index is usable again
    git(path, "commit", "-q", "-m", "after the crash")


async def test_a_fresh_lock_is_left_to_its_git_and_cleared_once_stale(worktrees: Worktrees):
    # A young lock may be a live git's (a push, another story's checkout): left alone, and
    # nothing waits for it; once older than the grace, a crash left it.
    lock = worktrees.git_dir / "index.lock"
    lock.write_text("")
    started = time.monotonic()
    path = await worktrees.ensure("1-1-login", BASE)
    assert time.monotonic() - started < worktrees.lock_grace_s and lock.exists()
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert not lock.exists()


def test_a_worktree_another_thread_changes_keeps_its_locks_whatever_their_age(
    worktrees: Worktrees,
):
    worktrees.ensure_blocking("1-1-login", BASE)
    mine = worktrees.git_dir / "worktrees" / "1-1-login" / "index.lock"
    mine.write_text("")  # a long checkout under way in another thread
    os.utime(mine, (time.time() - 3600, time.time() - 3600))
    with worktrees._story("1-1-login"):
        worktrees.ensure_blocking("1-2-other", BASE)
        assert mine.exists()
    worktrees.ensure_blocking("1-2-other", BASE)  # the thread is done: a crash's now
    assert not mine.exists()


async def test_a_lost_checkout_is_made_again_and_its_commits_kept(worktrees: Worktrees):
    path = await worktrees.ensure("1-1-login", BASE)
    git(path, "commit", "-q", "--allow-empty", "-m", "story work")
    head = git(path, "rev-parse", "HEAD")
    shutil.rmtree(path)
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert git(path, "rev-parse", "HEAD") == head


async def test_a_checkout_whose_admin_dir_is_gone_is_replaced(worktrees: Worktrees):
    path = await worktrees.ensure("1-1-login", BASE)
    shutil.rmtree(worktrees.git_dir / "worktrees" / "1-1-login")
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert git(path, "branch", "--show-current") == "story/1-1-login"
    assert git(path, "status", "--porcelain") == ""


async def test_an_interrupted_worktree_add_is_repaired(worktrees: Worktrees):
    # What `git worktree add` leaves when killed mid-checkout: still locked "initializing",
    # part of the files, no index.
    path = await worktrees.ensure("1-1-login", BASE)
    (worktrees.git_dir / "worktrees" / "1-1-login" / "locked").write_text("initializing")
    (worktrees.git_dir / "worktrees" / "1-1-login" / "index").unlink()
    shutil.rmtree(path / "src")
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert (path / "src/0/f0.txt").is_file()
    assert git(path, "status", "--porcelain") == ""
    assert not (worktrees.git_dir / "worktrees" / "1-1-login" / "locked").exists()


async def test_a_checkout_cut_short_after_the_add_is_finished(worktrees: Worktrees):
    # The add is done, its files not yet written (the checkout runs after it, beside other
    # stories' adds): registered, unlocked, no index, no files.
    path = await worktrees.ensure("1-1-login", BASE)
    (worktrees.git_dir / "worktrees" / "1-1-login" / "index").unlink()
    shutil.rmtree(path / "src")
    assert await worktrees.ensure("1-1-login", BASE) == path
    assert (path / "src/0/f0.txt").read_text() == "file 0\n"
    assert git(path, "status", "--porcelain") == ""


async def test_many_stories_at_once_each_get_their_own_checked_out_worktree(
    worktrees: Worktrees,
):
    keys = [f"1-{n}-story" for n in range(1, 13)]
    paths = await asyncio.gather(*(worktrees.ensure(key, BASE) for key in keys))
    tip = git(worktrees.clone, "rev-parse", BASE)
    for key, path in zip(keys, paths, strict=True):
        assert git(path, "branch", "--show-current") == f"story/{key}"
        assert git(path, "rev-parse", "HEAD") == tip
        assert git(path, "status", "--porcelain") == ""
        assert (path / "src/0/f0.txt").is_file()
    assert worktrees.stories() == sorted(keys)
    # No upstream per story branch in the clone's config (and no contention on its lock).
    assert "branch.story/" not in git(worktrees.clone, "config", "--list", "--local")


async def test_a_worktree_is_ready_only_as_ensure_leaves_it(worktrees: Worktrees):
    assert not worktrees.ready("1-1-login")
    path = await worktrees.ensure("1-1-login", BASE)
    assert worktrees.ready("1-1-login")
    admin = worktrees.git_dir / "worktrees" / "1-1-login"
    (admin / "locked").write_text("initializing")  # an add under way, or cut short
    assert not worktrees.ready("1-1-login")
    (admin / "locked").unlink()
    (admin / "index").unlink()  # added, not yet checked out
    assert not worktrees.ready("1-1-login")
    await worktrees.ensure("1-1-login", BASE)
    shutil.rmtree(path)  # its directory gone
    assert not worktrees.ready("1-1-login")


async def test_removing_a_story_removes_its_worktree_and_branch(worktrees: Worktrees):
    path = await worktrees.ensure("1-1-login", BASE)
    (path / "wip.txt").write_text("dirty")
    assert await worktrees.remove("1-1-login") is True
    assert not path.exists()
    assert "story/1-1-login" not in git(worktrees.clone, "branch", "--list")
    assert str(path) not in git(worktrees.clone, "worktree", "list")
    assert await worktrees.remove("1-1-login") is False  # twice is harmless


async def test_the_sweep_removes_what_no_story_owns(worktrees: Worktrees):
    for key in ("1-1-owned", "1-2-orphan", "1-3-busy"):
        await worktrees.ensure(key, BASE)
    (worktrees.root / "2-1-leftover").mkdir()  # a directory git does not know
    async with worktrees.leased("1-3-busy", BASE):
        swept = await worktrees.sweep({"1-1-owned"})
    assert sorted(swept) == ["1-2-orphan", "2-1-leftover"]
    assert worktrees.stories() == ["1-1-owned", "1-3-busy"]
    assert "story/1-2-orphan" not in git(worktrees.clone, "branch", "--list")


async def test_git_runs_off_the_event_loop(worktrees: Worktrees):
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await worktrees.ensure("1-1-login", BASE)
    ticker.cancel()
    assert ticks > 0


def test_story_keys_cannot_leave_the_worktree_root(worktrees: Worktrees):
    for key in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            worktrees.path_for(key)
