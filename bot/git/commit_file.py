"""Commits made in the App's bare clone without a worktree: a file's text read at a commit,
and a new commit whose parent is that commit with some files replaced (blob, tree, commit,
through a throwaway index), ready to push. Nothing checked out, nothing to clean up."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from bot.git.remote import GitFailed, Identity, git, git_bytes


async def read_file(clone: Path, commit: str, path: str) -> bytes | None:
    """The file at `path` in `commit`, or None when it is not there."""
    try:
        kind = (await git("cat-file", "-t", f"{commit}:{path}", cwd=clone)).strip()
    except GitFailed:
        return None
    if kind != "blob":
        return None
    return await git_bytes("cat-file", "blob", f"{commit}:{path}", cwd=clone)


async def write_tree(clone: Path, parent: str, files: Mapping[str, bytes]) -> str:
    """The tree of `parent` with `files` (path → content) replaced; its sha."""
    with tempfile.TemporaryDirectory(prefix="ao-index-") as scratch:
        index = Path(scratch) / "index"
        await git("read-tree", parent, cwd=clone, index=index)
        for path, content in files.items():
            blob = (await git("hash-object", "-w", "--stdin", cwd=clone, stdin=content)).strip()
            await git(
                "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}",
                cwd=clone, index=index,
            )  # fmt: skip
        return (await git("write-tree", cwd=clone, index=index)).strip()


async def commit_tree(clone: Path, tree: str, parent: str, message: str, identity: Identity) -> str:
    """A commit of `tree` on top of `parent`, by `identity`; its sha."""
    out = await git("commit-tree", tree, "-p", parent, "-F", "-", cwd=clone, identity=identity,
                    stdin=message.encode())  # fmt: skip
    return out.strip()
