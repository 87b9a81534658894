"""Reviews of pull requests: verdicts, inline comments on diff lines, threads and replies.

As on GitHub, the author of a pull request cannot approve it or request changes on it, an
inline comment must sit on a line of the pull request's diff, and a reply joins the thread
of the comment it answers. Each change sends `pull_request_review`,
`pull_request_review_comment` or `pull_request_review_thread`.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any

from githubsim import git_objects as objects
from githubsim.model import GitHubState, Repository, User, check_length
from githubsim.pulls_model import PullRequest, Pulls
from githubsim.render import node_id, when

#: A review's event as asked, and the state it leaves (REST spelling).
EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclasses.dataclass
class Review:
    id: int
    user: User
    state: str
    body: str
    commit_id: str
    submitted_at: datetime.datetime


@dataclasses.dataclass
class ReviewComment:
    id: int
    review_id: int
    user: User
    body: str
    path: str
    line: int
    side: str
    commit_id: str
    diff_hunk: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    in_reply_to: int | None = None
    resolved: bool = False


def diff_hunk(patch: str, line: int, side: str) -> str | None:
    """The part of `patch` from its hunk header down to `line` (on that side), or None."""
    kept: list[str] = []
    old = new = 0
    for text in patch.splitlines():
        header = _HUNK.match(text)
        if header:
            old, new = int(header.group(1)), int(header.group(2))
            kept = [text]
            continue
        if not kept:
            continue
        kept.append(text)
        marker = text[:1]
        here = old if side == "LEFT" else new
        on_side = marker != ("+" if side == "LEFT" else "-")
        if on_side and here == line:
            return "\n".join(kept)
        if marker != "+":
            old += 1
        if marker != "-":
            new += 1
    return None


class ReviewRefused(Exception):
    """GitHub answers 422 with this sentence (each route in its own error shape)."""


class Reviews:
    def __init__(self, state: GitHubState, pulls: Pulls) -> None:
        self.state, self.pulls = state, pulls

    @staticmethod
    def refuse(message: str) -> ReviewRefused:
        return ReviewRefused(message)

    async def submit(
        self,
        repository: Repository,
        pull: PullRequest,
        sender: User,
        *,
        event: str,
        body: str = "",
        comments: list[dict[str, Any]] | None = None,
        commit_id: str | None = None,
    ) -> Review:
        check_length("PullRequestReview", body=body)
        for given in comments or []:
            check_length("PullRequestReviewComment", body=given.get("body"))
        state = EVENTS.get(event)
        if state is None:
            raise self.refuse("event must be APPROVE, REQUEST_CHANGES or COMMENT")
        if sender.id == pull.issue.user.id and state == "APPROVED":
            raise self.refuse("Review Can not approve your own pull request")
        if sender.id == pull.issue.user.id and state == "CHANGES_REQUESTED":
            raise self.refuse("Review Can not request changes on your own pull request")
        if state != "APPROVED" and not body and not comments:
            raise self.refuse(f"Review body is required for {event}")
        review = Review(
            self.state.next_id(),
            sender,
            state,
            body,
            commit_id or pull.head_sha,
            self.state.clock(),
        )
        made = [await self._comment(repository, pull, review, sender, c) for c in comments or []]
        pull.reviews.append(review)
        pull.review_comments.extend(made)
        self.pulls.announce_event(
            "pull_request_review",
            "submitted",
            repository,
            pull,
            sender,
            review=self.render_review(repository, pull, review, webhook=True),
        )
        for comment in made:
            self._announce_comment(repository, pull, comment, sender)
        return review

    async def _comment(
        self,
        repository: Repository,
        pull: PullRequest,
        review: Review,
        sender: User,
        given: dict[str, Any],
    ) -> ReviewComment:
        path, line = given.get("path"), given.get("line")
        side = str(given.get("side") or "RIGHT")
        text = given.get("body")
        if not isinstance(path, str) or not isinstance(line, int) or not isinstance(text, str):
            raise self.refuse("path, line and body are required for a comment")
        if (
            not await self.pulls.store.succeeds(
                repository, "merge-base", "--is-ancestor", review.commit_id, pull.head_sha
            )
            or len(review.commit_id) != 40
        ):
            raise self.refuse(
                "pull_request_review_thread.commit_id is not part of the pull request"
            )
        base = await self.pulls.merge_base(repository, pull)
        files = await objects.changes(self.pulls.store, repository, base, review.commit_id)
        patch = next((f.patch for f in files if f.filename == path), None)
        hunk = diff_hunk(patch, line, side) if patch is not None else None
        if hunk is None:
            raise self.refuse("pull_request_review_thread.line must be part of the diff")
        now = self.state.clock()
        return ReviewComment(
            self.state.next_id(),
            review.id,
            sender,
            text,
            path,
            line,
            side,
            review.commit_id,
            hunk,
            now,
            now,
        )

    async def comment(
        self, repository: Repository, pull: PullRequest, sender: User, given: dict[str, Any]
    ) -> ReviewComment:
        """A single inline comment: a COMMENTED review holding it."""
        check_length("PullRequestReviewComment", body=given.get("body"))
        reply_to = given.get("in_reply_to")
        if reply_to is not None:
            return self.reply(repository, pull, sender, int(reply_to), str(given.get("body", "")))
        review = Review(
            self.state.next_id(),
            sender,
            "COMMENTED",
            "",
            str(given.get("commit_id") or pull.head_sha),
            self.state.clock(),
        )
        made = await self._comment(repository, pull, review, sender, given)
        pull.reviews.append(review)
        pull.review_comments.append(made)
        self._announce_comment(repository, pull, made, sender)
        return made

    def reply(
        self, repository: Repository, pull: PullRequest, sender: User, to: int, body: str
    ) -> ReviewComment:
        check_length("PullRequestReviewComment", body=body)
        first = next((c for c in pull.review_comments if c.id == to), None)
        if first is None:
            raise LookupError(to)
        if first.in_reply_to is not None:  # replies join the thread's first comment
            first = next(c for c in pull.review_comments if c.id == first.in_reply_to)
        now = self.state.clock()
        review = Review(self.state.next_id(), sender, "COMMENTED", "", first.commit_id, now)
        reply = dataclasses.replace(
            first,
            id=self.state.next_id(),
            review_id=review.id,
            user=sender,
            body=body,
            created_at=now,
            updated_at=now,
            in_reply_to=first.id,
        )
        pull.reviews.append(review)
        pull.review_comments.append(reply)
        self._announce_comment(repository, pull, reply, sender)
        return reply

    def thread(self, pull: PullRequest, first_id: int) -> list[ReviewComment]:
        return [c for c in pull.review_comments if first_id in (c.id, c.in_reply_to)]

    def resolve(
        self,
        repository: Repository,
        pull: PullRequest,
        first_id: int,
        sender: User,
        *,
        resolved: bool = True,
    ) -> None:
        comments = self.thread(pull, first_id)
        for c in comments:
            c.resolved = resolved
        self.pulls.announce_event(
            "pull_request_review_thread",
            "resolved" if resolved else "unresolved",
            repository,
            pull,
            sender,
            thread={
                "node_id": node_id("PullRequestReviewThread", first_id),
                "comments": [
                    self.render_comment(repository, pull, c, webhook=True) for c in comments
                ],
            },
        )

    def _announce_comment(
        self, repository: Repository, pull: PullRequest, comment: ReviewComment, sender: User
    ) -> None:
        self.pulls.announce_event(
            "pull_request_review_comment",
            "created",
            repository,
            pull,
            sender,
            comment=self.render_comment(repository, pull, comment, webhook=True),
        )

    # Rendering -------------------------------------------------------------------------

    def _urls(self, repository: Repository, pull: PullRequest) -> tuple[str, str]:
        r = self.state.render
        return (
            f"{r.api}/repos/{repository.full_name}/pulls/{pull.number}",
            f"{r.web}/{repository.full_name}/pull/{pull.number}",
        )

    def render_review(
        self, repository: Repository, pull: PullRequest, review: Review, *, webhook: bool = False
    ) -> dict[str, Any]:
        api, html = self._urls(repository, pull)
        r = self.state.render
        return {
            "id": review.id,
            "node_id": node_id("PullRequestReview", review.id),
            "user": r.user(review.user),
            "body": review.body,
            "state": review.state.lower() if webhook else review.state,
            "html_url": f"{html}#pullrequestreview-{review.id}",
            "pull_request_url": api,
            "_links": {
                "html": {"href": f"{html}#pullrequestreview-{review.id}"},
                "pull_request": {"href": api},
            },
            "submitted_at": when(review.submitted_at),
            "commit_id": review.commit_id,
            "author_association": r.association(repository, review.user),
        }

    def render_comment(
        self, repository: Repository, pull: PullRequest, c: ReviewComment, *, webhook: bool = False
    ) -> dict[str, Any]:
        api, html = self._urls(repository, pull)
        r = self.state.render
        url = f"{r.api}/repos/{repository.full_name}/pulls/comments/{c.id}"
        data: dict[str, Any] = {
            "url": url,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": node_id("PullRequestReviewComment", c.id),
            "diff_hunk": c.diff_hunk,
            "path": c.path,
            "position": len(c.diff_hunk.splitlines()) - 1,
            "original_position": len(c.diff_hunk.splitlines()) - 1,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": r.user(c.user),
            "body": c.body,
            "created_at": when(c.created_at),
            "updated_at": when(c.updated_at),
            "html_url": f"{html}#discussion_r{c.id}",
            "pull_request_url": api,
            "author_association": r.association(repository, c.user),
            "_links": {
                "self": {"href": url},
                "html": {"href": f"{html}#discussion_r{c.id}"},
                "pull_request": {"href": api},
            },
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": c.line,
            "original_line": c.line,
            "side": c.side,
            "subject_type": "line",
            "reactions": r.reactions(url, []),
        }
        if c.in_reply_to is not None:
            data["in_reply_to_id"] = c.in_reply_to
        return data
