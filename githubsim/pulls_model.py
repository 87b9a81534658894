"""Pull requests: their state, opening, following pushes, mergeability and merges by git.

A pull request is an issue (same number sequence, comments, labels) with a head and a base
branch. `mergeable` is null after every change to either branch and computed on the next
read (`git merge-tree`), as GitHub computes it in the background. Merges are git's own:
`merge-tree --write-tree` for merge and squash commits, `git rebase` in a temporary worktree
for rebase merges (git 2.39 has no `git replay`).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from githubsim import git_objects as objects
from githubsim.git_store import GitStore
from githubsim.merges import MERGE_METHODS, Merging, MoveRef, NotMergeable
from githubsim.model import Conflict, GitHubState, Issue, Repository, User, check_length

__all__ = ["MERGE_METHODS", "NotMergeable", "PullRequest", "Pulls"]

if TYPE_CHECKING:
    from githubsim.protection import Protection
    from githubsim.reviews import Review, ReviewComment


@dataclasses.dataclass
class PullRequest:
    id: int
    issue: Issue
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool = False
    merged_at: datetime.datetime | None = None
    merged_by: User | None = None
    merge_commit_sha: str | None = None
    mergeable: bool | None = None
    maintainer_can_modify: bool = False
    stats: dict[str, int] = dataclasses.field(default_factory=dict)
    requested_reviewers: list[User] = dataclasses.field(default_factory=list)
    reviews: list[Review] = dataclasses.field(default_factory=list)
    review_comments: list[ReviewComment] = dataclasses.field(default_factory=list)

    @property
    def number(self) -> int:
        return self.issue.number

    @property
    def state(self) -> str:
        return self.issue.state


class Pulls(Merging):
    """Every pull request, and the changes GitHub allows on them."""

    def __init__(self, state: GitHubState, store: GitStore, move: MoveRef) -> None:
        self.state, self.store, self.move = state, store, move
        self.render: Any = None  # the PullRenderer, attached by the server
        self.on_open: list[Callable[[Repository, PullRequest], None]] = []
        #: A branch's protection, if any; the server answers from its rules.
        self.protection_of: Callable[[Repository, str], Protection | None] = lambda _r, _b: None
        self.checks_missing: Callable[[Repository, str, list[str]], list[str]] = (
            lambda _r, _sha, contexts: list(contexts)
        )
        state.announce_pull = self._announce_issue_change

    def of(self, repository: Repository) -> list[PullRequest]:
        return [i.pull for i in repository.issues.values() if i.pull is not None]

    def get(self, repository: Repository, number: int) -> PullRequest | None:
        issue = repository.issues.get(number)
        return issue.pull if issue is not None else None

    # Announcing --------------------------------------------------------------------------

    @override
    def announce(
        self, action: str, repository: Repository, pull: PullRequest, sender: User, **extra: Any
    ) -> None:
        self.state.announce(
            "pull_request",
            action,
            repository,
            sender,
            number=pull.number,
            pull_request=self.render.pull(repository, pull, webhook=True),
            **extra,
        )

    def announce_event(
        self,
        name: str,
        action: str,
        repository: Repository,
        pull: PullRequest,
        sender: User,
        **fields: Any,
    ) -> None:
        """A webhook about a pull request other than `pull_request` (reviews, comments)."""
        self.state.announce(
            name,
            action,
            repository,
            sender,
            pull_request=self.render.pull(repository, pull, webhook=True),
            **fields,
        )

    def _announce_issue_change(
        self, action: str, repository: Repository, issue: Issue, sender: User, extra: dict[str, Any]
    ) -> None:
        assert issue.pull is not None
        self.announce(action, repository, issue.pull, sender, **extra)

    # Opening and editing -----------------------------------------------------------------

    async def open(
        self,
        repository: Repository,
        sender: User,
        *,
        title: str,
        head: str,
        base: str,
        body: str | None = None,
        draft: bool = False,
        via_app: Any = None,
    ) -> PullRequest:
        check_length("PullRequest", title=title, body=body)
        if draft and repository.private and repository.plan == "free":
            raise Conflict(
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": "Draft pull requests are not supported in this repository.",
                    }
                ],
            )
        head = head.split(":", 1)[-1]
        head_sha = await self.store.resolve(repository, f"refs/heads/{head}")
        base_sha = await self.store.resolve(repository, f"refs/heads/{base}")
        for field, value in (("head", head_sha), ("base", base_sha)):
            if value is None:
                raise Conflict(
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": field, "code": "invalid"}],
                )
        assert head_sha is not None and base_sha is not None
        if not await objects.log(self.store, repository, [head_sha, "--not", base_sha]):
            raise Conflict(
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {base} and {head}",
                    }
                ],
            )
        for other in self.of(repository):
            if other.state == "open" and (other.head_ref, other.base_ref) == (head, base):
                raise Conflict(
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": "A pull request already exists for "
                            f"{repository.owner.login}:{head}.",
                        }
                    ],
                )
        now = self.state.clock()
        number = self.state.next_number(repository)
        issue = Issue(self.state.next_id(), number, title, body, sender, now, now, via_app=via_app)
        pull = PullRequest(self.state.next_id(), issue, head, head_sha, base, base_sha, draft)
        issue.pull = pull
        # Its number is taken before anything is awaited: another pull request or issue
        # opened meanwhile took the same one, and the later replaced the earlier.
        repository.issues[number] = issue
        await self.refresh_stats(repository, pull)
        self.announce("opened", repository, pull, sender)
        for hook in self.on_open:
            hook(repository, pull)
        return pull

    def ready_for_review(self, repository: Repository, pull: PullRequest, sender: User) -> None:
        if pull.draft:
            pull.draft = False
            pull.issue.updated_at = self.state.clock()
            self.announce("ready_for_review", repository, pull, sender)

    def change_base(
        self, repository: Repository, pull: PullRequest, base: str, sender: User
    ) -> None:
        before = pull.base_ref
        pull.base_ref, pull.mergeable = base, None
        pull.issue.updated_at = self.state.clock()
        self.announce(
            "edited",
            repository,
            pull,
            sender,
            changes={"base": {"ref": {"from": before}, "sha": {"from": pull.base_sha}}},
        )

    # Following pushes -------------------------------------------------------------------

    async def pushed(
        self, repository: Repository, pusher: User, before: dict[str, str], after: dict[str, str]
    ) -> list[PullRequest]:
        """Open pull requests whose branches moved: synchronize (head) or recompute (base)."""
        moved = []
        for pull in self.of(repository):
            if pull.state != "open":
                continue
            head, base = f"refs/heads/{pull.head_ref}", f"refs/heads/{pull.base_ref}"
            if before.get(base) != after.get(base) and after.get(base):
                pull.base_sha, pull.mergeable = after[base], None
            if before.get(head) != after.get(head) and after.get(head):
                old, pull.head_sha, pull.mergeable = pull.head_sha, after[head], None
                pull.issue.updated_at = self.state.clock()
                await self.refresh_stats(repository, pull)
                self.announce(
                    "synchronize", repository, pull, pusher, before=old, after=pull.head_sha
                )
                moved.append(pull)
        return moved

    async def refresh_stats(self, repository: Repository, pull: PullRequest) -> None:
        base = await self.merge_base(repository, pull)
        files = await objects.changes(self.store, repository, base, pull.head_sha)
        commits = await objects.log(self.store, repository, [pull.head_sha, "--not", pull.base_sha])
        pull.stats = {
            "additions": sum(f.additions for f in files),
            "deletions": sum(f.deletions for f in files),
            "changed_files": len(files),
            "commits": len(commits),
        }

    async def merge_base(self, repository: Repository, pull: PullRequest) -> str:
        out = await self.store.git(repository, "merge-base", pull.base_sha, pull.head_sha)
        return out.strip()
