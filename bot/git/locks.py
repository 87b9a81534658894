"""Stale git lock files left by a crash: found and cleared, never one a live git still holds.

All the bot's git commands on a clone run under that clone's mutex (see `Worktrees`), and
sandboxed code cannot see the clone's git directory, so a lock found while holding the mutex was
left by a process that died, or by a git orphaned by a crash, which finishes within the grace.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def lock_files(git_dir: Path) -> Iterator[Path]:
    """`index.lock`, `HEAD.lock`, `config.lock`, `packed-refs.lock`, ref and worktree locks."""
    yield from git_dir.glob("*.lock")
    yield from git_dir.glob("worktrees/*/*.lock")
    yield from git_dir.glob("refs/**/*.lock")
    yield from git_dir.glob("logs/**/*.lock")


def clear_stale_locks(git_dir: Path, grace_s: float) -> list[Path]:
    """Remove every lock older than `grace_s`; wait out younger ones first (crash recovery)."""
    deadline = time.time() + grace_s
    cleared: list[Path] = []
    while True:
        young = False
        for lock in list(lock_files(git_dir)):
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < grace_s:
                young = True
                continue
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
                cleared.append(lock)
                log.warning(
                    "cleared a stale git lock", extra={"lock": str(lock), "age_s": round(age, 1)}
                )
        if not young or time.time() > deadline + grace_s:
            return cleared
        time.sleep(min(0.1, grace_s))
