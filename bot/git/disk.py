"""The worktree root's disk use, measured off the event loop, and the cap: oldest idle go first.

Eviction removes a worktree's checkout but keeps its branch (commits survive; `ensure` brings the
checkout back). A worktree with uncommitted changes is never evicted, only reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path

import git

from bot.git.worktrees import Worktrees

log = logging.getLogger(__name__)

#: The stories a clone's worktrees belong to (from the project's state); None: do not sweep.
Owners = Callable[[Worktrees], Awaitable[Collection[str]]]


def disk_usage(root: Path) -> int:
    """Bytes allocated under `root` (hard links counted once), like `du -s`."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [root]
    while stack:
        directory = stack.pop()
        with (
            contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError),
            os.scandir(directory) as entries,
        ):
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    info = entry.stat(follow_symlinks=False)
                    if (info.st_dev, info.st_ino) in seen:
                        continue
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
    return total


def evict_to_cap(clones: Sequence[Worktrees], root: Path, cap_bytes: int) -> list[str]:
    """Evict idle, clean worktrees, least recently used first, until `root` fits in the cap."""
    used = disk_usage(root)
    evicted: list[str] = []
    if used <= cap_bytes:
        return evicted
    idle = sorted(
        (clone.last_used(key), clone, key)
        for clone in clones
        for key in clone.stories()
        if key not in clone.busy
    )
    for _, clone, key in idle:
        if used <= cap_bytes:
            break
        path = clone.path_for(key)
        if path.exists() and clone.is_dirty(key):
            log.warning("worktree over the cap kept: uncommitted changes", extra={"story": key})
            continue
        size = disk_usage(path)
        clone.remove_blocking(key, with_branch=False)
        used -= size
        evicted.append(key)
        log.info("worktree evicted for the disk cap", extra={"story": key, "bytes": size})
    return evicted


@dataclasses.dataclass(frozen=True, slots=True)
class RootUsage:
    """The last measurement, for /readyz."""

    root: str
    bytes: int
    cap_bytes: int
    measured_at: float
    evicted: tuple[str, ...] = ()
    swept: tuple[str, ...] = ()
    orphan_sweep: bool = False


class Maintenance:
    """At start and every `interval_s`: sweep orphans, enforce the cap, measure the root."""

    def __init__(
        self,
        root: Path,
        cap_bytes: int,
        clones: Callable[[], Sequence[Worktrees]],
        owners: Owners | None = None,
    ) -> None:
        self.root = root
        self.cap_bytes = cap_bytes
        self.clones = clones
        self.owners = owners
        self.usage: RootUsage | None = None

    async def once(self) -> RootUsage:
        clones = await asyncio.to_thread(self.clones)
        swept: list[str] = []
        if self.owners is not None:
            for clone in clones:
                swept += await clone.sweep(await self.owners(clone))
        evicted = await asyncio.to_thread(evict_to_cap, clones, self.root, self.cap_bytes)
        used = await asyncio.to_thread(disk_usage, self.root)
        self.usage = RootUsage(
            str(self.root),
            used,
            self.cap_bytes,
            time.time(),
            tuple(evicted),
            tuple(swept),
            self.owners is not None,
        )
        return self.usage

    async def forever(self, interval_s: float) -> None:
        while True:
            try:
                await self.once()
            except (OSError, git.GitCommandError) as exc:
                log.error("worktree maintenance failed", extra={"error": repr(exc)})
            await asyncio.sleep(interval_s)

    def describe(self) -> dict[str, object]:
        if self.usage is None:
            return {"root": str(self.root), "cap_bytes": self.cap_bytes, "bytes": None}
        return dataclasses.asdict(self.usage)
