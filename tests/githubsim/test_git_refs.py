"""The local GitHub reads branches and tags from a bare repository's files: checked against
`git for-each-ref` and `git rev-parse` on loose and packed refs, annotated tags, a tag and a
branch of one name, a broken ref, and names git reads as something else."""

from __future__ import annotations

import subprocess
from pathlib import Path

from githubsim.git_store import _branch_tip, _refs_on_disk

ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def git(cwd: Path, *args: str, ok: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=ok)  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else ""


def listed(bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_refs_and_branches_read_from_files_agree_with_git(tmp_path: Path):
    work, bare = tmp_path / "work", tmp_path / "repo.git"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "commit", "-q", "--allow-empty", "-m", "one")
    git(work, "commit", "-q", "--allow-empty", "-m", "two")
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "branch", "story/1-1", "main~1")
    git(bare, "tag", "v1", "main~1")
    git(bare, "tag", "-a", "-m", "annotated", "v2", "main")
    git(bare, "pack-refs", "--all")
    git(bare, "branch", "story/1-2", "main")  # loose beside the packed ones
    git(bare, "branch", "v1", "main")  # a branch a tag of its name hides from rev-parse
    git(bare, "update-ref", "refs/heads/story/1-1", "main")  # loose over its packed line
    (bare / "refs/heads/broken").write_text("")  # what a crash can leave
    assert _refs_on_disk(bare) == listed(bare)
    for name in ("main", "refs/heads/main", "story/1-1", "story/1-2", "v1", "v2", "HEAD",
                 "config", "nope", "refs/heads/v1", "main~1", "broken"):  # fmt: skip
        tip = _branch_tip(bare, name)
        if tip is not None:  # when it answers, it answers as git does
            assert tip == git(bare, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    assert _branch_tip(bare, "story/1-1") == git(bare, "rev-parse", "main")
    assert _branch_tip(bare, "v1") is None  # the tag comes first: git decides
    assert _branch_tip(bare, "config") is None and _branch_tip(bare, "main~1") is None
    for odd in ("main/", "story//1-1", "story/./1-1", "main.", "x.lock/y"):  # not branch names
        assert _branch_tip(bare, odd) is None
    # A broken loose ref hides its packed line, as in for-each-ref.
    (bare / "refs/heads/broken").unlink()
    git(bare, "pack-refs", "--all")
    hiding = bare / "refs/heads/story/1-2"
    hiding.parent.mkdir(parents=True, exist_ok=True)
    hiding.write_text("")
    assert "refs/heads/story/1-2" not in _refs_on_disk(bare)
    assert _refs_on_disk(bare) == listed(bare)
