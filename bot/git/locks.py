"""Stale git lock files left by a crash: found and cleared, never one a live git may hold.

The bot's own git runs beside a clone's worktree changes (pushes, fetches, other stories'
checkouts), so a young lock is taken for a live git's and left alone: whatever needs it fails
and is tried again later. A lock older than the grace was left by a process that died, or by
a git orphaned by a crash (which ends well within it); the worktrees a thread is changing
right now are skipped whatever their locks' age (a checkout of a big repository takes long).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def lock_files(git_dir: Path) -> Iterator[Path]:
    """`index.lock`, `HEAD.lock`, `config.lock`, `packed-refs.lock`, ref and worktree locks."""
    yield from git_dir.glob("*.lock")
    yield from git_dir.glob("worktrees/*/*.lock")
    yield from git_dir.glob("refs/**/*.lock")
    yield from git_dir.glob("logs/**/*.lock")


def clear_stale_locks(git_dir: Path, grace_s: float, live: Collection[Path] = ()) -> list[Path]:
    """Remove every lock older than `grace_s`, but those in the admin dirs `live`; never
    waits (a sprint's ensures each waited for every other story's checkout)."""
    cleared: list[Path] = []
    for lock in list(lock_files(git_dir)):
        if lock.parent in live:
            continue
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < grace_s:
            continue
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
            cleared.append(lock)
            log.warning(
                "cleared a stale git lock", extra={"lock": str(lock), "age_s": round(age, 1)}
            )
    return cleared
