"""Every clone in the data dir with its story worktrees: one `Worktrees` per clone, made once."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.git.worktrees import Worktrees, repository_dirs


class Clones:
    """`data_dir/repos/<owner>/<name>` clones; their worktrees in `data_dir/worktrees/...`."""

    def __init__(self, data_dir: Path, *, lock_grace_s: float = 10.0) -> None:
        self.data_dir = data_dir
        self.lock_grace_s = lock_grace_s
        self._known: dict[str, Worktrees] = {}
        self._mutex = threading.Lock()

    def get(self, full_name: str) -> Worktrees:
        """The worktrees of `owner/name`, whose clone must exist (blocking: opens the repo)."""
        with self._mutex:
            if full_name not in self._known:
                clone, root = repository_dirs(self.data_dir, full_name)
                self._known[full_name] = Worktrees(clone, root, lock_grace_s=self.lock_grace_s)
            return self._known[full_name]

    def all(self) -> list[Worktrees]:
        """Every clone on disk (a directory two levels under `repos/` that git can open)."""
        repos = self.data_dir / "repos"
        names = [
            f"{owner.name}/{repo.name}"
            for owner in (sorted(repos.iterdir()) if repos.is_dir() else [])
            if owner.is_dir()
            for repo in sorted(owner.iterdir())
            if (repo / ".git").exists() or (repo / "HEAD").is_file()
        ]
        return [self.get(name) for name in names]
