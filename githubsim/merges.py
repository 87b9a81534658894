"""Mergeability and merges of pull requests, done by git.

`git merge-tree --write-tree` decides whether a pull request merges and makes the tree of
merge and squash commits (`commit-tree` writes them); a rebase merge replays the head's
commits with `git rebase` in a temporary worktree (git 2.39 has no `git replay`). The base
branch then moves like any push, and the pull request closes, merged.

A merge goes onto the base branch as it is when the merge begins (merges of one repository
one at a time, as GitHub's); a push that moves the base meanwhile makes GitHub's 405 "Base
branch was modified. Review and try the merge again.".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from githubsim.git_store import GitError, GitStore, identity_env, run_git
from githubsim.http import Refusal
from githubsim.model import GitHubState, Repository, User
from githubsim.pushes import noreply_email

if TYPE_CHECKING:
    from githubsim.protection import Protection
    from githubsim.pulls_model import PullRequest

#: Moves a ref and announces the push: (repository, actor, ref, new sha, expected sha).
MoveRef = Callable[[Repository, User, str, str, str], Awaitable[None]]
MERGE_METHODS = ("merge", "squash", "rebase")
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."


class NotMergeable(Exception):
    """GitHub answers 405 (or 409 for a moved head) with this message."""

    def __init__(self, message: str, status: int = 405) -> None:
        super().__init__(message)
        self.status = status


class Merging:
    """The merging half of `Pulls` (a mixin: `Pulls` holds the parts)."""

    state: GitHubState
    store: GitStore
    move: MoveRef
    protection_of: Callable[[Repository, str], Protection | None]
    #: The required contexts not passed (success) on a commit: (repository, sha, contexts).
    checks_missing: Callable[[Repository, str, list[str]], list[str]]
    announce: Callable[..., None]  # Pulls.announce: (action, repository, pull, sender, **extra)

    async def compute_mergeable(self, repository: Repository, pull: PullRequest) -> bool:
        tree = await self._merge_tree(repository, pull.base_sha, pull.head_sha)
        pull.mergeable = tree is not None
        return pull.mergeable

    async def _merge_tree(self, repository: Repository, base: str, head: str) -> str | None:
        """The merged tree of two commits, or None when they conflict."""
        try:
            out = await self.store.git(
                repository, "merge-tree", "--write-tree", base, head, ok=(0,)
            )
        except GitError as exc:
            if exc.status == 1:
                return None
            raise
        return out.split()[0]

    def blocked(self, repository: Repository, pull: PullRequest) -> str | None:
        """Why the base branch's protection refuses this merge now (GitHub's words), or None."""
        rule = self.protection_of(repository, pull.base_ref)
        if rule is None:
            return None
        needed = rule.required_approving_review_count or 0
        if needed and approvals(pull) < needed:
            return (
                f"At least {needed} approving review{'s are' if needed > 1 else ' is'} "
                "required by reviewers with write access."
            )
        missing = self.checks_missing(repository, pull.head_sha, rule.required_status_checks)
        if missing:
            return f'Required status check "{missing[0]}" is expected.'
        return None

    async def merge(
        self,
        repository: Repository,
        pull: PullRequest,
        sender: User,
        *,
        method: str = "merge",
        sha: str | None = None,
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        """Merge as GitHub does: move the base branch, close the pull request; the new sha."""
        if pull.state != "open" or pull.merged_at is not None:
            raise NotMergeable("Pull Request is not mergeable")
        if sha is not None and sha != pull.head_sha:
            raise NotMergeable("Head branch was modified. Review and try the merge again.", 409)
        if pull.draft:
            raise NotMergeable("Pull Request is still a draft")
        blocked = self.blocked(repository, pull)
        if blocked is not None:
            raise NotMergeable(blocked)
        locks: dict[int, asyncio.Lock] = self.__dict__.setdefault("_merge_locks", {})
        async with locks.setdefault(repository.id, asyncio.Lock()):
            if pull.state != "open" or pull.merged_at is not None:
                raise NotMergeable("Pull Request is not mergeable")
            return await self._merge(repository, pull, sender, method, title, message)

    async def _merge(
        self, repository: Repository, pull: PullRequest, sender: User, method: str,
        title: str | None, message: str | None,
    ) -> str:  # fmt: skip
        who = {"name": sender.login, "email": noreply_email(sender)}
        base = await self.store.resolve(repository, f"refs/heads/{pull.base_ref}")
        if base is None:
            raise NotMergeable("Pull Request is not mergeable")
        pull.base_sha = base
        if method == "rebase":
            new = await self._rebase(repository, pull, who)
        else:
            tree = await self._merge_tree(repository, base, pull.head_sha)
            if tree is None:
                raise NotMergeable("Pull Request is not mergeable")
            if method == "squash":
                text = f"{title or pull.issue.title} (#{pull.number})\n\n{message or ''}"
                parents = ["-p", base]
            else:
                head = f"{repository.owner.login}/{pull.head_ref}"
                text = f"{title or f'Merge pull request #{pull.number} from {head}'}\n\n"
                text += message if message is not None else pull.issue.title
                parents = ["-p", base, "-p", pull.head_sha]
            new = (
                await self.store.git(
                    repository,
                    "commit-tree",
                    tree,
                    *parents,
                    input=text.strip().encode() + b"\n",
                    env=identity_env(who),
                )
            ).strip()
        try:
            await self.move(repository, sender, f"refs/heads/{pull.base_ref}", new, base)
        except Refusal as exc:
            if exc.status == 409:  # pushed to meanwhile: the merge's base is not the branch's
                raise NotMergeable(BASE_MODIFIED) from exc
            raise
        now = self.state.clock()
        pull.merged_at, pull.merged_by, pull.merge_commit_sha = now, sender, new
        issue = pull.issue
        issue.state, issue.closed_at, issue.closed_by, issue.updated_at = "closed", now, sender, now
        self.announce("closed", repository, pull, sender)
        return new

    async def _rebase(self, repository: Repository, pull: PullRequest, who: dict[str, str]) -> str:
        committer = {"GIT_COMMITTER_NAME": who["name"], "GIT_COMMITTER_EMAIL": who["email"]}
        async with self.store.worktree(repository, pull.head_sha) as work:
            try:
                await run_git("rebase", "--quiet", pull.base_sha, cwd=work, env=committer)
            except GitError as exc:
                await run_git("rebase", "--abort", cwd=work, ok=(0, 128))
                raise NotMergeable("This branch can't be rebased") from exc
            _, out = await run_git("rev-parse", "HEAD", cwd=work)
            return out.decode().strip()

    async def update_branch(self, repository: Repository, pull: PullRequest, sender: User) -> str:
        """Merge the base into the head (`PUT …/update-branch`); the head's new sha."""
        tree = await self._merge_tree(repository, pull.head_sha, pull.base_sha)
        if tree is None:
            raise NotMergeable("merge conflict between base and head", 422)
        text = f"Merge branch '{pull.base_ref}' into {pull.head_ref}\n"
        who = {"name": sender.login, "email": noreply_email(sender)}
        new = (
            await self.store.git(
                repository,
                "commit-tree",
                tree,
                "-p",
                pull.head_sha,
                "-p",
                pull.base_sha,
                input=text.encode(),
                env=identity_env(who),
            )
        ).strip()
        await self.move(repository, sender, f"refs/heads/{pull.head_ref}", new, pull.head_sha)
        return new


def approvals(pull: PullRequest) -> int:
    """Reviewers whose latest verdict approves; none if anyone's latest asks for changes."""
    latest: dict[int, str] = {}
    for review in pull.reviews:
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.user.id] = review.state
    states = list(latest.values())
    return 0 if "CHANGES_REQUESTED" in states else states.count("APPROVED")
