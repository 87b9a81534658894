"""A story branch that conflicts with its base, handed to the developer: the default branch is
merged into the story's worktree, the conflicted files (with git's markers) go to the model,
and only a resolution without markers is committed, tested and pushed (a merge commit on top
of the branch: a fast-forward push, never forced).

Only where GitHub's update-branch cannot (it refused: a conflict). Never when the default
branch changed `.github/workflows` since the story began: the App may not push workflow
changes, so a person brings that branch up to date.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from bot.agents.config import ConfigError, load_config
from bot.git.remote import GitFailed, git
from bot.llm.errors import LLMError
from bot.stories.address import Escalated
from bot.stories.branch import StoryBranch
from bot.stories.compose import Means, developer
from bot.stories.deliver import Place
from bot.stories.develop import WORKFLOWS, ReviewFeedback, develop
from bot.stories.story import find
from bot.stories.testing import detect

MARKERS = ("<<<<<<< ", ">>>>>>> ")


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    key: str
    files: tuple[str, ...]  # the files that conflicted
    head: str  # the merge commit, pushed


class _Resolving:
    """The branch as the developer loop saves to it while a merge is under way: a turn that
    leaves a conflict unresolved commits nothing."""

    def __init__(self, branch: StoryBranch, conflicted: list[str]) -> None:
        self.branch, self.conflicted = branch, conflicted

    async def save(self, message: str, paths: list[str]) -> str | None:
        if paths:
            await git("add", "--", *paths, cwd=self.branch.worktree)
        if await unresolved(self.branch.worktree, self.conflicted):
            return None
        return await self.branch.save(message, [])

    async def changed(self) -> bool:
        return await self.branch.changed()


async def unresolved(worktree: Path, conflicted: list[str]) -> list[str]:
    """The files still unmerged in the index or holding a conflict marker."""
    out = await git("diff", "--name-only", "--diff-filter=U", cwd=worktree)
    left = set(out.split())
    for name in conflicted:
        path = worktree / name
        text = path.read_text(errors="replace") if path.is_file() else ""
        if any(line.startswith(MARKERS) for line in text.splitlines()):
            left.add(name)
    return sorted(left)


async def resolve_conflict(place: Place, means: Means, key: str) -> Resolved | Escalated:
    """Merge the default branch into `story/<key>` with the developer resolving the conflict."""
    default = str(place.repository["default_branch"])
    branch = await StoryBranch.prepare(place.remote, place.worktrees, key, default, place.identity)
    worktree, theirs = branch.worktree, f"refs/remotes/origin/{default}"
    touched = await git("diff", "--name-only", branch.base, theirs, "--", WORKFLOWS, cwd=worktree)
    if touched.strip():
        reason = (
            f"{default} changed {WORKFLOWS} since the story began; the App may not push "
            "workflow changes, so a person brings the branch up to date"
        )
        return Escalated(key, 0, reason)
    await _abort(worktree)  # one an earlier attempt left half done
    with contextlib.suppress(GitFailed):  # the conflict itself: the files hold its markers
        await git("merge", "--no-commit", "--no-ff", "--quiet", theirs, cwd=worktree,
                  identity=place.identity)  # fmt: skip
    conflicted = (await git("diff", "--name-only", "--diff-filter=U", cwd=worktree)).split()
    if not conflicted:
        await _abort(worktree)
        return Escalated(key, 0, f"{default} merges cleanly: update-branch brings it up to date")
    described = [await _describe(worktree, branch.base, theirs, name) for name in conflicted]
    feedback = ReviewFeedback(1, 1, "git", "\n\n".join(described), kind="conflict")
    try:
        config = load_config(worktree, {}, check_models=False)
        story = find(worktree, key)
        test = detect(worktree, config.test_command, config.setup_command)
        if test is None:
            raise ConfigError("no test command: set `sandbox.test` in .github/orchestrator.yml")
        dev, confinement = await developer(
            worktree, config, means, str(place.repository["full_name"])
        )
        outcome = await develop(
            dev, worktree, story, test, confinement, _Resolving(branch, conflicted), feedback
        )
    except (ConfigError, FileNotFoundError, LLMError, GitFailed, OSError) as exc:
        await _abort(worktree)
        return Escalated(key, 0, f"the conflict was not resolved: {type(exc).__name__}: {exc}")
    if await _merging(worktree):
        await _abort(worktree)
        return Escalated(key, 0, f"the conflict was not resolved: {outcome.reason}")
    if not outcome.passed:
        return Escalated(key, 0, f"the resolution does not pass the tests: {outcome.reason}")
    return Resolved(key, tuple(conflicted), await branch.head())


async def _describe(worktree: Path, base: str, theirs: str, name: str) -> str:
    log = await git("log", "--format=- %s", f"{base}..{theirs}", "--", name, cwd=worktree)
    return f"{name}: changed by the story and by the default branch's commits:\n{log.strip()}"


async def _merging(worktree: Path) -> bool:
    try:
        await git("rev-parse", "--verify", "--quiet", "MERGE_HEAD", cwd=worktree)
    except GitFailed:
        return False
    return True


async def _abort(worktree: Path) -> None:
    if await _merging(worktree):
        await git("merge", "--abort", cwd=worktree)
