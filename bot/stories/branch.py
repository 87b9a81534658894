"""The story's branch `story/<key>`: its worktree, the base commit recorded before any agent
runs, the App's commits of exactly the files the developer wrote, and a push after each one,
so that nothing done is ever only on this machine."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bot.git.refs import resolve
from bot.git.remote import GitFailed, Identity, Remote, git, named
from bot.git.worktrees import Worktrees


class StoryBranch:
    def __init__(
        self, remote: Remote, worktree: Path, key: str, base: str, identity: Identity
    ) -> None:
        self.remote = remote
        self.worktree = worktree
        self.key = key
        self.name = f"story/{key}"
        self.base = base  # the default branch's commit the story starts from
        self.identity = identity
        self.pushed: str | None = None  # what GitHub has of it, as far as this object knows
        self._files: tuple[str, list[str]] | None = None  # (HEAD, the files changed at it)

    @classmethod
    async def prepare(
        cls, remote: Remote, worktrees: Worktrees, key: str, default: str, identity: Identity
    ) -> StoryBranch:
        """The worktree on `story/<key>`: GitHub's copy of the branch when there is one (a
        second attempt goes on from it, its commits kept), else a new one from `default`."""
        await remote.sync()
        ours = f"refs/remotes/origin/story/{key}"
        theirs = resolve(remote.clone, ours) is not None
        async with remote.adding():  # never beside a fetch
            worktree = await worktrees.ensure(
                key, ours if theirs else f"refs/remotes/origin/{default}"
            )
        if theirs:
            # A person's or an earlier machine's commits on GitHub come first; diverged, the
            # push will say so, and nothing here is thrown away.
            with contextlib.suppress(GitFailed):
                await git("merge", "--ff-only", "--quiet", ours, cwd=worktree)
        base = await git("merge-base", "HEAD", f"refs/remotes/origin/{default}", cwd=worktree)
        return cls(remote, worktree, key, base.strip(), identity)

    async def save(self, message: str, paths: list[str]) -> str | None:
        """Commit `paths` as the App and push; the sha, or None when they changed nothing."""
        if paths:
            await git("add", "--", *paths, cwd=self.worktree)
        if not (await git("diff", "--cached", "--name-only", cwd=self.worktree)).strip():
            return None
        await git(
            "commit", "--quiet", "--no-verify", "-m", message,
            cwd=self.worktree, identity=self.identity,
        )  # fmt: skip
        await self.push()
        return self.pushed

    async def push(self) -> None:
        """Push HEAD, unless this object pushed it already (a push is a network round trip)."""
        head = await self.head()
        if head == self.pushed:
            return
        try:
            await self.remote.push(self.worktree, self.name)
        except GitFailed as exc:
            if not any(word in exc.stderr for word in _BEHIND):
                raise
            await self.on_top()
            await self.remote.push(self.worktree, self.name)
        self.pushed = await self.head()

    async def on_top(self) -> None:
        """Someone pushed to the branch meanwhile: their commits are fetched and kept, and the
        App's commits not yet pushed are replayed on top (never a force-push). A conflict
        leaves the worktree as it was and raises GitFailed."""
        theirs = await self.remote.fetch(self.name)
        if theirs is None:
            return
        try:
            await git("rebase", "--quiet", theirs, cwd=self.worktree, identity=self.identity)
        except GitFailed:
            with contextlib.suppress(GitFailed):
                await git("rebase", "--abort", cwd=self.worktree)
            raise

    async def head(self) -> str:
        return await named(self.worktree, "HEAD")

    async def changed(self) -> bool:
        return bool(await self.files())

    async def files(self) -> list[str]:
        """The files the branch changes against its base (asked of git once per HEAD)."""
        head = await self.head()
        if self._files is None or self._files[0] != head:
            out = await git("diff", "--name-only", self.base, head, cwd=self.worktree)
            self._files = (head, [line for line in out.splitlines() if line])
        return list(self._files[1])

    async def commits(self) -> list[str]:
        """The branch's commit subjects since its base, oldest first."""
        out = await git("log", "--reverse", "--format=%s", f"{self.base}..HEAD", cwd=self.worktree)
        return [line for line in out.splitlines() if line]

    async def restore(self, paths: list[str], message: str) -> str | None:
        """Put `paths` back as they are at the base (gone where the base has none) in one
        commit: changes the story branch must never carry, whoever made them."""
        for path in paths:
            try:
                await git("checkout", self.base, "--", path, cwd=self.worktree)
            except GitFailed:
                await git("rm", "--quiet", "--cached", "--ignore-unmatch", "--", path,
                          cwd=self.worktree)  # fmt: skip
                (self.worktree / path).unlink(missing_ok=True)
        return await self.save(message, [])


#: What git says when the branch on GitHub has commits the push does not.
_BEHIND = ("fetch first", "non-fast-forward", "[rejected]")
