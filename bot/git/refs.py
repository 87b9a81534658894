"""What a ref names, read from the repository's files as git reads them: a loose ref file,
else `packed-refs`; symbolic refs followed (at most five, as git); a worktree's HEAD (and
its other per-worktree refs) in its own admin dir, the rest in the clone's common dir.

A twenty-story sprint asked `git rev-parse` a few hundred times, at 15-25 ms of a busy
machine each, for what a file read answers. GitPython's reader answers it too, but each
`git.Repo` reads the config and resolves paths first: 14% of the server's loop in a sprint.
Here a read is a `stat` and one or two small files; `packed-refs` is parsed once per change.
"""

from __future__ import annotations

import re
from pathlib import Path

from cachetools import LRUCache

_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: Refs each worktree has of its own (git's `is_per_worktree_ref`, and pseudo-refs: HEAD,
#: MERGE_HEAD, ...); every other ref is the clone's, shared by its worktrees.
_PER_WORKTREE = re.compile(r"[A-Z_]+|refs/(bisect|worktree|rewritten)/.*")
_PACKED: LRUCache[tuple[str, int, int, int], dict[str, str]] = LRUCache(maxsize=64)


def resolve(path: Path, ref: str) -> str | None:
    """The object id `ref` (a full ref name, or HEAD) names in the repository or worktree at
    `path`; None when it names nothing there, or `path` is no repository, or the ref is
    broken (an empty file a crash left: `git rev-parse --verify` names nothing for it too)."""
    try:
        dirs = _dirs(path)
        if dirs is None:
            return None
        own, common = dirs
        for _ in range(5):
            if ".." in ref or ref.startswith("/") or not ref:
                return None
            value = _read(own if _PER_WORKTREE.fullmatch(ref) else common, common, ref)
            if value is None:
                return None
            if not value.startswith("ref:"):
                return value if _OBJECT_ID.fullmatch(value) else None
            ref = value.removeprefix("ref:").strip()
    except (OSError, ValueError):  # ValueError: undecodable, or a NUL in the name
        return None
    return None


def listing(path: Path, prefix: str) -> dict[str, str]:
    """Every ref under `prefix` (`refs/remotes/origin/`) in the repository at `path` that
    names an object, and its id (`git for-each-ref`'s answer for them): loose refs over
    packed-refs lines, a broken loose ref hiding its packed line; symbolic refs left out."""
    try:
        dirs = _dirs(path)
        if dirs is None or ".." in prefix or not prefix.startswith("refs/"):
            return {}
        common = dirs[1]
        found = {k: v for k, v in _packed(common).items() if k.startswith(prefix)}
        for file in (common / prefix).rglob("*"):
            if file.name.endswith(".lock") or not file.is_file():
                continue  # a ref being written: git reads the ref itself, not its lock
            name = file.relative_to(common).as_posix()
            value = file.read_text().strip()
            if _OBJECT_ID.fullmatch(value):
                found[name] = value
            else:
                found.pop(name, None)
    except (OSError, ValueError):
        return {}
    return found


def _dirs(path: Path) -> tuple[Path, Path] | None:
    """(the git dir, the common dir) of a worktree (`.git` a file naming its admin dir), a
    clone with a work tree, or a bare clone; None for no repository."""
    dot = path / ".git"
    if dot.is_file():
        named = dot.read_text().strip().removeprefix("gitdir:").strip()
        own = Path(named) if Path(named).is_absolute() else path / named
    elif dot.is_dir():
        own = dot
    elif (path / "HEAD").is_file() and (path / "objects").is_dir():
        own = path
    else:
        return None
    try:
        named = (own / "commondir").read_text().strip()
    except FileNotFoundError:
        return own, own
    return own, (Path(named) if Path(named).is_absolute() else own / named)


def _read(where: Path, common: Path, ref: str) -> str | None:
    try:
        return (where / ref).read_text().strip() or None  # empty: broken, names nothing
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        pass
    return _packed(common).get(ref) if ref.startswith("refs/") else None


def _packed(common: Path) -> dict[str, str]:
    """`packed-refs`: ref name -> object id (peeled lines `^…` are the tags' targets)."""
    file = common / "packed-refs"
    try:
        seen = file.stat()
    except FileNotFoundError:
        return {}
    key = (str(file), seen.st_ino, seen.st_mtime_ns, seen.st_size)
    if (known := _PACKED.get(key)) is not None:
        return known
    refs: dict[str, str] = {}
    for line in file.read_text().splitlines():
        if line and line[0] not in "#^":
            sha, _, name = line.partition(" ")
            refs[name.strip()] = sha
    _PACKED[key] = refs
    return refs
