"""Addressing a review: a failed `ao/review` or a person's "changes requested" sends the
developer back to the story's branch, each comment to the model as data, addressed in new
commits the orchestrator tests; each thread is answered with what changed.

The story goes `review → in-progress → review` through the sprint state's one writer (the
one backwards move the bot makes). At most `review_rounds` rounds, then `Escalated`. The
rounds live in one edited comment on the pull request (a marker per addressed review), never
a comment per push. A person's commits on the branch are fetched and kept; the App's go on
top, never forced.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.agents.config import ConfigError, load_config
from bot.git.remote import GitFailed, git
from bot.llm.errors import LLMError
from bot.project.sprint_edit import Change
from bot.project.state_commit import StateCommitter
from bot.stories import progress
from bot.stories.branch import StoryBranch
from bot.stories.compose import Means, developer
from bot.stories.deliver import Place
from bot.stories.develop import ReviewFeedback, develop, dropped_reason
from bot.stories.review import review_external, review_mark, show_check, verdict_mark
from bot.stories.story import find
from bot.stories.testing import detect, run_tests
from bot.templates import render

_MARKS = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclasses.dataclass(frozen=True, slots=True)
class Addressed:
    key: str
    round: int
    review_id: int
    commits: tuple[str, ...]  # the new commits' shas, oldest first
    answered: tuple[int, ...]  # the review comments whose threads were answered
    head: str


@dataclasses.dataclass(frozen=True, slots=True)
class Escalated:
    """`review_rounds` rounds were not enough (or the developer could not address it): a
    person decides."""

    key: str
    rounds: int
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class NothingToAddress:
    key: str


Addressing = Addressed | Escalated | NothingToAddress


def wanted_review(
    reviews: Sequence[Mapping[str, Any]], app_login: str, key: str, head: str, done: Sequence[int]
) -> Mapping[str, Any] | None:
    """The review to address now: a person's standing "changes requested" first, else the
    App's failed review of the head commit; none already addressed."""
    latest: dict[str, Mapping[str, Any]] = {}
    review: Mapping[str, Any]
    for review in reviews:
        login = str((review.get("user") or {}).get("login"))
        if login != app_login and review.get("state") in ("APPROVED", "CHANGES_REQUESTED"):
            latest[login] = review
    for review in latest.values():
        if review.get("state") == "CHANGES_REQUESTED" and int(review["id"]) not in done:
            return review
    for review in reversed(reviews):
        body = str(review.get("body") or "")
        if (
            (review.get("user") or {}).get("login") == app_login
            and review_mark(key, head) in body
            and verdict_mark(False) in body
            and int(review["id"]) not in done
        ):
            return review
    return None


def feedback_text(review: Mapping[str, Any], threads: Sequence[Mapping[str, Any]]) -> str:
    """The review as the model reads it: its summary, then each comment by number."""
    parts = [_MARKS.sub("", str(review.get("body") or "")).strip()]
    for comment in threads:
        where = f"{comment['path']}:{comment.get('line')}"
        parts.append(f"[comment {comment['id']}] {where}\n{comment['body']}")
    return "\n\n".join(p for p in parts if p)


async def address(
    place: Place, means: Means, key: str, pull_number: int, state: StateCommitter | None = None
) -> Addressing:
    """Address the review standing on story `key`'s pull request, one round."""
    full = place.repository["full_name"]
    pull = await place.gh.getitem(f"/repos/{full}/pulls/{pull_number}")
    head = str(pull["head"]["sha"])
    mark = f"<!-- ao:address:{key} -->"
    shown = await progress.find_own(place, str(pull["comments_url"]), mark)
    done = progress.addressed(str(shown["body"])) if shown else []
    lines = _round_lines(str(shown["body"])) if shown else []
    reviews = [dict(r) async for r in place.gh.getiter(f"{pull['url']}/reviews?per_page=100")]
    review = wanted_review(reviews, place.identity.name, key, head, done)
    if review is None:
        return NothingToAddress(key)
    default = str(place.repository["default_branch"])
    branch = await StoryBranch.prepare(place.remote, place.worktrees, key, default, place.identity)
    try:
        config = load_config(branch.worktree, {}, check_models=False)
    except ConfigError as exc:
        return Escalated(key, len(done), str(exc))
    number = len(done) + 1
    if number > config.review_rounds:
        reason = f"{len(done)} review round(s) did not satisfy the review (review_rounds)"
        await progress.show(place, pull, mark, _progress(key, lines, done, reason, mark))
        return Escalated(key, len(done), reason)
    reviewer = str((review.get("user") or {}).get("login"))
    now = f"round {number} of {config.review_rounds}: addressing {reviewer}'s review"
    await progress.show(place, pull, mark, _progress(key, lines, done, now, mark))
    threads = [
        dict(c) async for c in place.gh.getiter(f"{pull['url']}/comments?per_page=100")
        if c.get("pull_request_review_id") == review["id"] and not c.get("in_reply_to_id")
    ]  # fmt: skip
    await _status(place, state, key, "in-progress")
    text = feedback_text(review, threads)
    feedback = ReviewFeedback(number, config.review_rounds, reviewer, text)
    # A round cut short after its commits were pushed (a crash) goes on from them.
    earlier = await _own_commits(place, branch, str(review.get("commit_id") or ""))
    result = await _develop(place, means, branch, feedback, earlier)
    if isinstance(result, str):
        await progress.show(place, pull, mark, _progress(key, lines, done, result, mark))
        return Escalated(key, len(done), result)
    commits, summary, tests = result
    answered = [
        int(c["id"]) for c in threads
        if await _answer(place, pull, c, commits, summary, tests)
    ]  # fmt: skip
    await _status(place, state, key, "review")
    head = await branch.head()
    said = f"Round {number} addressed {reviewer}'s review; the reviewer looks again."
    queued = {"status": "queued", "output": {"title": "Review round addressed", "summary": said}}
    await show_check(place, head, review_external(key, head), queued)
    lines.append(f"round {number}: {reviewer}'s review addressed in {len(commits)} commit(s)")
    await progress.show(place, pull, mark, _progress(key, lines, [*done, review["id"]], "", mark))
    return Addressed(
        key, number, int(review["id"]), tuple(sha for sha, _ in commits), tuple(answered), head
    )


async def _develop(
    place: Place,
    means: Means,
    branch: StoryBranch,
    feedback: ReviewFeedback,
    earlier: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], str, str] | str:
    """The developer's round: (new commits, its summary, the tests' line), or why not.
    `earlier`: the App's commits since the review, pushed by a round cut short; when the
    tests pass on them, they are the round."""
    worktree, start = branch.worktree, await branch.head()
    config = load_config(worktree, {}, check_models=False)
    story = find(worktree, branch.key)
    test = detect(worktree, config.test_command, config.setup_command)
    if test is None:
        return "no test command: set `sandbox.test` in .github/orchestrator.yml"
    if earlier:
        verified = await run_tests(means.sandbox, worktree, test)
        if verified.passed:
            return earlier, earlier[-1][1], verified.summary
    try:
        dev, confinement = await developer(
            worktree, config, means, str(place.repository["full_name"])
        )
        outcome = await develop(dev, worktree, story, test, confinement, branch, feedback)
    except (LLMError, GitFailed, OSError) as exc:
        return f"the developer could not address the review: {type(exc).__name__}: {exc}"
    stray = [f for f in await branch.files() if dropped_reason(f)]
    run = outcome.last_run
    if stray and await branch.restore(stray, f"story {story.short}: keep {', '.join(stray)}"):
        run = await run_tests(dev.sandbox, worktree, test)
    await branch.push()
    commits = [*earlier, *await _own_commits(place, branch, start)]
    if not outcome.passed or run is None or not run.passed:
        return f"the review is not addressed: {outcome.reason}"
    if not commits:
        return "the developer made no change for the review"
    summary = next((a.summary for a in reversed(outcome.attempts) if a.summary), "")
    return commits, summary, run.summary


async def _own_commits(place: Place, branch: StoryBranch, since: str) -> list[tuple[str, str]]:
    """(sha, subject) of the App's commits on the branch after `since`, oldest first: a
    person's, pushed meanwhile, are theirs to describe."""
    try:
        out = await git(
            "log", "--reverse", "--format=%H%x00%an%x00%s", f"{since}..HEAD", cwd=branch.worktree
        )
    except GitFailed:  # not a commit of this branch (gone from GitHub): nothing to go on from
        return []
    rows = [line.split("\0", 2) for line in out.splitlines() if line]
    return [(sha, subject) for sha, author, subject in rows if author == place.identity.name]


async def _answer(
    place: Place,
    pull: Mapping[str, Any],
    comment: Mapping[str, Any],
    commits: list[tuple[str, str]],
    summary: str,
    tests: str,
) -> bool:
    """Reply on the comment's thread with what changed, once (a retry finds its reply)."""
    mark = f"<!-- ao:answer:{comment['id']} -->"
    async for reply in place.gh.getiter(f"{pull['url']}/comments?per_page=100"):
        if (
            reply.get("in_reply_to_id") == comment["id"]
            and (reply.get("user") or {}).get("login") == place.identity.name
            and mark in str(reply.get("body"))
        ):
            return False
    body = render("stories/answer.md.j2", commits=commits, summary=summary, tests=tests, mark=mark)
    await place.gh.post(f"{pull['url']}/comments/{comment['id']}/replies", data={"body": body})
    return True


async def _status(place: Place, state: StateCommitter | None, key: str, status: str) -> None:
    if state is None:
        return
    seen = "review" if status == "in-progress" else "in-progress"
    await state.commit([Change(key, status, seen=seen, because="review")])


def _round_lines(body: str) -> list[str]:
    return [ln[2:] for ln in body.splitlines() if ln.startswith("- round ")]


def _progress(key: str, lines: list[str], done: Sequence[int], now: str, mark: str) -> str:
    return render(
        "stories/address_progress.md.j2", key=key, rounds=lines, addressed=done, now=now,
        mark=mark,
    )  # fmt: skip
