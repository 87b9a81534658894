"""The worktree root's disk use and its cap: the oldest idle, clean worktrees go first."""

from __future__ import annotations

import os
import time

from bot.git.clones import Clones
from bot.git.disk import Maintenance, disk_usage, evict_to_cap
from bot.git.worktrees import Worktrees, worktree_root
from tests.git.conftest import REPO, git

BASE = "origin/main"


async def used_at(worktrees: Worktrees, key: str, when: float) -> None:
    await worktrees.ensure(key, BASE)
    mark = next(worktrees.git_dir.glob(f"worktrees/{key}/orchestrator-last-used"))
    os.utime(mark, (when, when))


def test_disk_usage_counts_hard_links_once(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    before = disk_usage(tmp_path)
    os.link(tmp_path / "a", tmp_path / "b")
    assert disk_usage(tmp_path) == before >= 100_000


async def test_over_the_cap_the_oldest_idle_clean_worktrees_go_first(worktrees: Worktrees):
    now = time.time()
    await used_at(worktrees, "1-1-oldest", now - 400)
    await used_at(worktrees, "1-2-dirty", now - 300)
    await used_at(worktrees, "1-3-busy", now - 200)
    await used_at(worktrees, "1-4-older", now - 100)
    await used_at(worktrees, "1-5-newest", now)
    (worktrees.root / "1-2-dirty" / "wip.txt").write_text("uncommitted")
    git(worktrees.root / "1-1-oldest", "commit", "-q", "--allow-empty", "-m", "kept")
    kept_head = git(worktrees.root / "1-1-oldest", "rev-parse", "HEAD")
    one = disk_usage(worktrees.root / "1-5-newest")
    worktrees.busy.add("1-3-busy")
    evicted = evict_to_cap([worktrees], worktrees.root, disk_usage(worktrees.root) - one)
    assert evicted == ["1-1-oldest"]
    evicted = evict_to_cap([worktrees], worktrees.root, 3 * one)
    assert evicted == ["1-4-older", "1-5-newest"]  # dirty and busy ones stay
    assert worktrees.stories() == ["1-2-dirty", "1-3-busy"]
    # The branch survives eviction: the checkout comes back with the story's commits.
    path = await worktrees.ensure("1-1-oldest", BASE)
    assert git(path, "rev-parse", "HEAD") == kept_head


async def test_maintenance_sweeps_caps_and_measures(worktrees: Worktrees, data_dir):
    await worktrees.ensure("1-1-owned", BASE)
    await worktrees.ensure("1-2-orphan", BASE)
    clones = Clones(data_dir)
    assert [c.clone for c in clones.all()] == [worktrees.clone]

    async def owners(clone: Worktrees) -> set[str]:
        return {"1-1-owned"}

    # The test's `worktrees` and the registry's are two instances on one clone: use the
    # registry's, as the server does.
    upkeep = Maintenance(worktree_root(data_dir), 10 * 2**30, clones.all, owners)
    usage = await upkeep.once()
    assert usage.swept == ("1-2-orphan",) and usage.evicted == ()
    assert usage.bytes == disk_usage(worktree_root(data_dir)) > 0
    assert clones.get(REPO).stories() == ["1-1-owned"]
    assert upkeep.describe()["bytes"] == usage.bytes
