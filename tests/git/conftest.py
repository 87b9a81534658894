"""A real clone in a data dir: a bare "origin" with one commit on main, cloned the bot's way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.git.worktrees import Worktrees, repository_dirs

REPO = "octo/app"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV
    )
    return done.stdout.strip()


GIT_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "HOME": "/nonexistent",
}


def make_clone(tmp: Path, data_dir: Path, files: int = 3) -> Path:
    """`files` files on main in a bare origin; the clone at the bot's place in `data_dir`."""
    seed = tmp / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    for n in range(files):
        (seed / f"src/{n // 1000}").mkdir(parents=True, exist_ok=True)
        (seed / f"src/{n // 1000}/f{n}.txt").write_text(f"file {n}\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    origin = tmp / "origin.git"
    git(tmp, "clone", "-q", "--bare", str(seed), str(origin))
    clone, _ = repository_dirs(data_dir, REPO)
    clone.parent.mkdir(parents=True)
    git(tmp, "clone", "-q", str(origin), str(clone))
    return clone


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def worktrees(tmp_path: Path, data_dir: Path) -> Worktrees:
    clone = make_clone(tmp_path, data_dir)
    _, root = repository_dirs(data_dir, REPO)
    return Worktrees(clone, root, lock_grace_s=0.3)
