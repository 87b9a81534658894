"""One worktree per story, on branch `story/<key>`, in the repository's clone in the data dir.

Blocking git (GitPython over the git binary) runs in a thread: the public methods are async.
A crash leaves nothing `ensure` cannot reuse or repair.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import git

from bot.git.locks import clear_stale_locks
from bot.git.refs import resolve

log = logging.getLogger(__name__)

KEY = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$")
USED_MARK = "orchestrator-last-used"
T = TypeVar("T")
_INITIALIZING = "initializing"  # the lock reason `git worktree add` writes until it is done


def repository_dirs(data_dir: Path, full_name: str) -> tuple[Path, Path]:
    """(the clone, its worktree directory) for `owner/name` in the data dir."""
    return data_dir / "repos" / full_name, data_dir / "worktrees" / full_name


def worktree_root(data_dir: Path) -> Path:
    return data_dir / "worktrees"


#: The threads worktree changes run in: most of them wait for the clone's turn to add, and
#: in asyncio's default pool (six threads on two cores) twenty stories starting at once
#: held every thread of the server's, and one another, up.
_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="worktree")


async def _off_loop(work: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_THREADS, work, *args)


class Worktrees:
    """The story worktrees of one clone; hold one instance per clone. It orders git: the
    clone's worktrees added, repaired and removed one at a time (two `git worktree add` at
    once can fail on each other's admin dir half made), a story's worktree by one thread at
    a time; checkouts side by side, each in its own worktree."""

    def __init__(self, clone: Path, root: Path, *, lock_grace_s: float = 10.0) -> None:
        self.clone = clone.resolve()
        self.root = root.resolve()
        self.lock_grace_s = lock_grace_s
        self.repo = git.Repo(clone)
        self.git_dir = Path(self.repo.git_dir)
        self.busy: set[str] = set()
        self._mutex = threading.Lock()
        self._keys_mutex = threading.Lock()
        self._keys: dict[str, threading.Lock] = {}

    def path_for(self, key: str) -> Path:
        if not KEY.match(key) or ".." in key:
            raise ValueError(f"not a story key: {key!r}")
        return self.root / key

    async def ensure(self, key: str, base: str) -> Path:
        """The story's worktree, made from `base` (the default branch's tip) when it is new."""
        return await _off_loop(self.ensure_blocking, key, base)

    async def remove(self, key: str) -> bool:
        """Remove the worktree and its local branch (the story's PR was merged or closed)."""
        return await _off_loop(self.remove_blocking, key, True)

    async def sweep(self, owned: Collection[str]) -> list[str]:
        """Remove every worktree (and branch) no story in `owned` claims; busy ones stay."""
        return await _off_loop(self.sweep_blocking, owned)

    @contextlib.asynccontextmanager
    async def leased(self, key: str, base: str) -> AsyncIterator[Path]:
        """The worktree, marked busy (never evicted or swept) while the block runs."""
        self.busy.add(key)
        try:
            yield await self.ensure(key, base)
        finally:
            self.busy.discard(key)
            with contextlib.suppress(FileNotFoundError):
                self._mark_used(self.path_for(key))

    def stories(self) -> list[str]:
        """Story keys with a worktree (registered or left on disk)."""
        on_disk = {p.name for p in self.root.iterdir()} if self.root.is_dir() else set()
        registered = {p.name for p in self._registered() if p.parent == self.root}
        return sorted(on_disk | registered)

    def last_used(self, key: str) -> float:
        admin = self._admin_dir(self.path_for(key))
        for candidate in ((admin / USED_MARK) if admin else None, self.path_for(key)):
            if candidate is not None:
                with contextlib.suppress(OSError):
                    return candidate.stat().st_mtime
        return 0.0

    def ready(self, key: str) -> bool:
        """Whether the story's worktree is there as `ensure` leaves it: registered, its add
        finished, its files checked out (file reads only)."""
        path = self.path_for(key)
        admin = self._admin_dir(path)
        if admin is None or not path.is_dir() or not (admin / "index").is_file():
            return False
        return not (admin / "locked").is_file()

    def is_dirty(self, key: str) -> bool:
        with self._story(key):
            return git.Repo(self.path_for(key)).is_dirty(untracked_files=True)

    def ensure_blocking(self, key: str, base: str) -> Path:
        path = self.path_for(key)
        branch = f"story/{key}"
        with self._story(key):
            with self._mutex:
                clear_stale_locks(self.git_dir, self.lock_grace_s, self._others_live(key))
                self._repair(path)
                if path not in self._registered():
                    self.root.mkdir(parents=True, exist_ok=True)
                    # Its files are checked out below, beside other stories' worktrees made;
                    # no upstream is set (a config write per branch, and config's lock).
                    if self._has_branch(branch):
                        self.repo.git.worktree("add", "--no-checkout", str(path), branch)
                    else:
                        self.repo.git.worktree(
                            "add", "--no-checkout", "--no-track", "-b", branch, str(path), base
                        )
            admin = self._admin_dir(path)
            if admin is not None and not (admin / "index").exists():  # new, or cut short
                git.Git(path).reset("--hard", "--quiet")  # its own index and files only
                log.info("worktree created", extra={"story": key, "path": str(path), "base": base})
            self._mark_used(path)
        return path

    def remove_blocking(self, key: str, with_branch: bool) -> bool:
        path = self.path_for(key)
        branch = f"story/{key}"
        with self._story(key), self._mutex:
            clear_stale_locks(self.git_dir, self.lock_grace_s, self._others_live(key))
            found = self._drop_worktree(path)
            if with_branch and self._has_branch(branch):
                self.repo.git.branch("-D", branch)
                found = True
        if found:
            log.info("worktree removed", extra={"story": key, "branch_too": with_branch})
        return found

    def sweep_blocking(self, owned: Collection[str]) -> list[str]:
        orphans = [k for k in self.stories() if k not in owned and k not in self.busy]
        for key in orphans:
            self.remove_blocking(key, True)
        if orphans:
            log.info("swept orphan worktrees", extra={"stories": orphans, "clone": str(self.clone)})
        return orphans

    def _repair(self, path: Path) -> None:
        """Undo what a crash can leave: a half-made worktree, a lost checkout or admin dir."""
        if self._prunable():
            self.repo.git.worktree("prune")  # registered, but the directory is gone
        admin = self._admin_dir(path)
        locked = admin / "locked" if admin else None
        if locked is not None and locked.is_file() and locked.read_text().strip() == _INITIALIZING:
            log.warning("repairing an interrupted worktree add", extra={"path": str(path)})
            self._drop_worktree(path)
        elif path.exists() and path not in self._registered():
            # Its admin dir is gone (or it points elsewhere): `repair` relinks when it can.
            with contextlib.suppress(git.GitCommandError):
                self.repo.git.worktree("repair", str(path))
            if path not in self._registered():
                log.warning(
                    "removing an unregistered worktree directory", extra={"path": str(path)}
                )
                shutil.rmtree(path)

    def _drop_worktree(self, path: Path) -> bool:
        found = False
        if path in self._registered():
            self.repo.git.worktree("remove", "--force", "--force", str(path))
            found = True
        if path.exists():
            shutil.rmtree(path)
            found = True
        self.repo.git.worktree("prune")
        return found

    def _registered(self) -> set[Path]:
        """The clone's worktrees, read as `git worktree list` reads them: each admin dir's
        `gitdir` file names the worktree's `.git` (no process: every `ensure` asked twice)."""
        return {target.parent for _, target in self._admin_dirs() if target is not None}

    def _prunable(self) -> bool:
        """Whether `git worktree prune` has anything to do: an admin dir whose worktree is
        gone, or that names none."""
        return any(target is None or not target.exists() for _, target in self._admin_dirs())

    def _admin_dirs(self) -> list[tuple[Path, Path | None]]:
        """(admin dir, the worktree's `.git` it names, or None when it names none)."""
        found: list[tuple[Path, Path | None]] = []
        admins = self.git_dir / "worktrees"
        for admin in sorted(admins.iterdir()) if admins.is_dir() else []:
            try:
                named = (admin / "gitdir").read_text().strip()
            except OSError:
                found.append((admin, None))
                continue
            target = Path(named) if Path(named).is_absolute() else admin / named
            found.append((admin, Path(os.path.normpath(target)) if named else None))
        return found

    def _admin_dir(self, path: Path) -> Path | None:
        """`.git/worktrees/<name>` of the worktree at `path` (the name may differ from the key)."""
        for admin, target in self._admin_dirs():
            if target == path / ".git":
                return admin
        return None

    def _story(self, key: str) -> threading.Lock:
        """The lock of story `key`'s worktree."""
        with self._keys_mutex:
            return self._keys.setdefault(key, threading.Lock())

    def _others_live(self, key: str) -> set[Path]:
        """The admin dirs of the other stories' worktrees a thread is changing now."""
        with self._keys_mutex:
            busy = [k for k, lock in self._keys.items() if k != key and lock.locked()]
        wanted = {self.path_for(k) / ".git" for k in busy}
        return {admin for admin, target in self._admin_dirs() if target in wanted}

    def _has_branch(self, branch: str) -> bool:
        return resolve(self.clone, f"refs/heads/{branch}") is not None

    def _mark_used(self, path: Path) -> None:
        admin = self._admin_dir(path)
        if admin is not None:
            (admin / USED_MARK).write_text(f"{time.time():.3f}\n")
