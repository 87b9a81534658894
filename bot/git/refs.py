"""What a ref names, read from the repository's files as git reads them (a loose ref, else
`packed-refs`; symbolic refs followed; a worktree's HEAD in its own admin dir), through
GitPython's reference reader: no process. A twenty-story sprint asked `git rev-parse` a few
hundred times, at 15-25 ms of a busy machine each, for what a file read answers."""

from __future__ import annotations

from pathlib import Path

import git
from git.refs.symbolic import SymbolicReference


def resolve(path: Path, ref: str) -> str | None:
    """The object id `ref` (a full ref name, or HEAD) names in the repository or worktree at
    `path`; None when it names nothing there, or `path` is no repository, or the ref is
    broken (an empty file a crash left: `git rev-parse --verify` names nothing for it too)."""
    try:
        return SymbolicReference.dereference_recursive(git.Repo(path), ref)
    except (ValueError, OSError, git.GitError, AssertionError, IndexError):
        return None
