"""Refs read from the repository's files, checked against `git rev-parse` on a real clone
and worktree: loose and packed refs, a worktree's own HEAD (on a branch, detached), refs
that name nothing, a path that is no repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.git.refs import listing, resolve
from bot.git.worktrees import Worktrees
from tests.git.conftest import git


def _agrees(path: Path, ref: str) -> None:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=path,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert resolve(path, ref) == (done.stdout.strip() or None), ref


async def test_refs_read_from_files_agree_with_git(worktrees: Worktrees, tmp_path: Path):
    clone = worktrees.clone
    path = await worktrees.ensure("1-1-login", "origin/main")
    git(path, "commit", "-q", "--allow-empty", "-m", "story work")
    names = ["HEAD", "refs/heads/story/1-1-login", "refs/remotes/origin/main",
             "refs/heads/story/none", "refs/remotes/origin/none"]  # fmt: skip
    for ref in names:
        _agrees(clone, ref)
        _agrees(path, ref)  # HEAD is the worktree's own, the rest the clone's
    assert resolve(path, "HEAD") != resolve(clone, "HEAD")

    git(clone, "pack-refs", "--all")  # every ref now in packed-refs, no loose file
    assert not (worktrees.git_dir / "refs/remotes/origin/main").exists()
    for ref in names:
        _agrees(clone, ref)
        _agrees(path, ref)

    git(path, "checkout", "-q", "--detach", "HEAD~1")
    _agrees(path, "HEAD")
    assert resolve(path, "HEAD") == resolve(clone, "refs/remotes/origin/main")


def test_a_path_that_is_no_repository_names_nothing(tmp_path: Path):
    assert resolve(tmp_path, "HEAD") is None
    assert resolve(tmp_path / "gone", "HEAD") is None


async def test_a_broken_ref_names_nothing_as_git_says(worktrees: Worktrees):
    # A crash can leave an empty ref file behind; git ignores it ("ignoring broken ref").
    broken = worktrees.git_dir / "refs/remotes/origin/broken"
    broken.write_text("")
    _agrees(worktrees.clone, "refs/remotes/origin/broken")
    assert resolve(worktrees.clone, "refs/remotes/origin/broken") is None


def test_a_bare_clone_reads_as_git_does(worktrees: Worktrees, tmp_path: Path):
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(worktrees.clone), str(bare))
    git(bare, "update-ref", "refs/remotes/origin/main", "HEAD")
    for ref in ("HEAD", "refs/heads/main", "refs/remotes/origin/main", "refs/heads/none"):
        _agrees(bare, ref)
    git(bare, "pack-refs", "--all")
    git(bare, "update-ref", "refs/heads/later", "HEAD")  # loose beside the packed ones
    for ref in ("HEAD", "refs/heads/main", "refs/heads/later", "refs/remotes/origin/main"):
        _agrees(bare, ref)
    assert resolve(bare, "refs/heads/main") == resolve(worktrees.clone, "refs/heads/main")


def _listed_by_git(path: Path, prefix: str) -> dict[str, str]:
    """for-each-ref's refs under `prefix`, but symbolic ones (origin/HEAD), left out."""
    out = git(path, "for-each-ref", "--format=%(objectname) %(refname) %(symref)", prefix)
    rows = [(line + " ").split(" ")[:3] for line in out.splitlines()]
    return {name: sha for sha, name, symref in rows if not symref}


async def test_refs_listed_from_files_agree_with_for_each_ref(worktrees: Worktrees):
    clone, prefix = worktrees.clone, "refs/remotes/origin/"
    for n in range(3):
        git(clone, "update-ref", f"{prefix}story/1-{n}-x", "HEAD")
    assert listing(clone, prefix) == _listed_by_git(clone, prefix)
    assert set(listing(clone, prefix)) >= {f"{prefix}main", f"{prefix}story/1-0-x"}

    git(clone, "pack-refs", "--all")  # packed, then one moved (loose again) and one deleted
    other = git(clone, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "other")
    git(clone, "update-ref", f"{prefix}story/1-1-x", other)
    git(clone, "update-ref", "-d", f"{prefix}story/1-2-x")
    (worktrees.git_dir / f"{prefix}story/1-0-x.lock").write_text("")  # a ref being written
    assert listing(clone, prefix) == _listed_by_git(clone, prefix)
    assert listing(clone, prefix)[f"{prefix}story/1-1-x"] == other
    path = await worktrees.ensure("1-1-login", "origin/main")  # from a worktree: the clone's
    assert listing(path, prefix) == _listed_by_git(clone, prefix)
    assert listing(clone, "refs/../") == {} and listing(clone / "none", prefix) == {}
