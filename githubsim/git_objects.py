"""Reading and writing git objects in a repository's bare git: commits, trees, blobs, diffs."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Mapping

from githubsim.git_store import GitStore, identity_env, run_git
from githubsim.model import Repository

_FORMAT = "%x01".join(("%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"))


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str  # ISO 8601 as git prints it


@dataclasses.dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclasses.dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # "blob", "tree" or "commit"
    sha: str
    size: int
    path: str


@dataclasses.dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # GitHub's: added, removed, modified, renamed
    additions: int
    deletions: int
    sha: str  # the blob after (or before, for a removal)
    patch: str


async def commits(store: GitStore, repository: Repository, shas: list[str]) -> list[CommitInfo]:
    if not shas:
        return []
    out = await store.git(repository, "show", "-s", "-z", f"--format={_FORMAT}", *shas)
    found = []
    for record in out.split("\0"):
        if not record.strip():
            continue
        sha, tree, parents, an, ae, ad, cn, ce, cd, message = record.split("\x01", 9)
        found.append(
            CommitInfo(
                sha.strip(),
                tree,
                tuple(parents.split()),
                Person(an, ae, ad),
                Person(cn, ce, cd),
                message,
            )
        )
    return found


async def commit(store: GitStore, repository: Repository, sha: str) -> CommitInfo:
    return (await commits(store, repository, [sha]))[0]


async def log(
    store: GitStore, repository: Repository, revisions: list[str], *, path: str | None = None
) -> list[str]:
    """Commit shas reachable as `git rev-list` lists them (newest first)."""
    extra = ["--", path] if path else []
    out = await store.git(repository, "rev-list", *revisions, *extra)
    return out.split()


async def tree(
    store: GitStore, repository: Repository, commit_sha: str, path: str
) -> list[TreeEntry] | TreeEntry | None:
    """The directory listing at `path` (a list), the file there (an entry), or None."""
    path = path.strip("/")
    if path:
        out = await store.git(repository, "ls-tree", "-l", "-z", commit_sha, "--", path)
        entries = _entries(out)
        if not entries:
            return None
        if entries[0].type != "tree":
            return entries[0]
    out = await store.git(
        repository, "ls-tree", "-l", "-z", f"{commit_sha}:{path}" if path else commit_sha
    )
    prefix = f"{path}/" if path else ""
    return [dataclasses.replace(e, path=prefix + e.path) for e in _entries(out)]


def _entries(out: str) -> list[TreeEntry]:
    entries = []
    for record in out.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, sha, size = meta.split(maxsplit=3)
        entries.append(TreeEntry(mode, kind, sha, int(size) if size.strip().isdigit() else 0, path))
    return entries


async def blob(store: GitStore, repository: Repository, sha: str) -> bytes:
    _, out = await _raw(store, repository, "cat-file", "blob", sha)
    return out


async def _raw(store: GitStore, repository: Repository, *args: str) -> tuple[int, bytes]:
    return await run_git("--git-dir", str(store.path(repository)), *args)


async def changes(
    store: GitStore, repository: Repository, base: str, head: str
) -> list[FileChange]:
    """Files changed from `base` to `head`, with counts and the unified diff of each."""
    numstat = await store.git(repository, "diff", "--numstat", "-z", "--no-renames", base, head)
    counts: dict[str, tuple[int, int]] = {}
    for record in numstat.split("\0"):
        if record.strip():
            plus, minus, name = record.split("\t", 2)
            counts[name] = (
                int(plus) if plus.isdigit() else 0,
                int(minus) if minus.isdigit() else 0,
            )
    raw = await store.git(
        repository, "diff", "--raw", "-z", "--no-renames", "--no-abbrev", base, head
    )
    parts = raw.split("\0")
    found = []
    for i in range(0, len(parts) - 1, 2):
        meta, name = parts[i], parts[i + 1]
        if not meta.startswith(":"):
            continue
        _, _, old_sha, new_sha, letter = meta[1:].split()
        status = {"A": "added", "D": "removed"}.get(letter[0], "modified")
        patch = await store.git(repository, "diff", "--no-renames", base, head, "--", name)
        body = patch.split("\n@@", 1)
        additions, deletions = counts.get(name, (0, 0))
        found.append(
            FileChange(
                name,
                status,
                additions,
                deletions,
                old_sha if status == "removed" else new_sha,
                "@@" + body[1] if len(body) == 2 else "",
            )
        )
    return found


async def write_commit(
    store: GitStore,
    repository: Repository,
    *,
    parent: str | None,
    files: Mapping[str, bytes | None],
    message: str,
    author: Mapping[str, str] | None = None,
    committer: Mapping[str, str] | None = None,
) -> str:
    """A new commit on `parent` with `files` written (None removes one); its sha. No ref
    moves: the caller updates the branch (compare-and-swap) and announces the push."""
    handle, index = tempfile.mkstemp(prefix="githubsim-index-")
    os.close(handle)
    os.unlink(index)
    env = {"GIT_INDEX_FILE": index}
    try:
        if parent:
            await store.git(repository, "read-tree", parent, env=env)
        for path, content in files.items():
            if content is None:
                removal = f"0 {'0' * 40}\t{path}\n".encode()  # mode 0: out of the index
                await store.git(repository, "update-index", "--index-info", input=removal, env=env)
                continue
            sha = (
                await store.git(repository, "hash-object", "-w", "--stdin", input=content)
            ).strip()
            await store.git(
                repository, "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}", env=env
            )
        tree_sha = (await store.git(repository, "write-tree", env=env)).strip()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index)
    parents = ["-p", parent] if parent else []
    return (
        await store.git(
            repository,
            "commit-tree",
            tree_sha,
            *parents,
            input=message.encode(),
            env=identity_env(author, committer),
        )
    ).strip()
