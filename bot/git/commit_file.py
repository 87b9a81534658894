"""Commits made in the App's bare clone without a worktree: a file's text read at a commit,
and a new commit whose parent is that commit with some files replaced (blob, tree, commit,
through a throwaway index), ready to push. Nothing checked out, nothing to clean up."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.git.remote import GitFailed, Identity, git, git_bytes


async def read_file(clone: Path, commit: str, path: str) -> bytes | None:
    """The file at `path` in `commit`, or None when it is not there."""
    return (await read_files(clone, commit, [path]))[path]


async def read_files(
    clone: Path, commit: str, paths: Sequence[str], *, strict: bool = False
) -> dict[str, bytes | None]:
    """The files at `paths` in `commit` (None for one that is not there, or not a file), read
    by one `git cat-file --batch`: a sprint's pass reads every story file, a process each
    was most of its time. `strict`: git failing raises GitFailed (else all are None)."""
    found: dict[str, bytes | None] = dict.fromkeys(paths)
    asked = [p for p in found if "\n" not in p and p]
    if not asked:
        return found
    try:
        out = await git_bytes("cat-file", "--batch", cwd=clone,
                              stdin="".join(f"{commit}:{p}\n" for p in asked).encode())  # fmt: skip
    except GitFailed:
        if strict:
            raise
        return found
    at = 0
    for path in asked:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        known = len(header) == 3 and header[1] in (b"blob", b"tree", b"commit", b"tag")
        if known and len(header[0]) in (40, 64) and header[2].isdigit():
            size = int(header[2])
            if header[1] == b"blob":
                found[path] = out[at : at + size]
            at += size + 1  # the content, then a newline
    return found


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
