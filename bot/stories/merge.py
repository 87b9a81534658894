"""Merging a story's pull request: a pure decision on what GitHub says of it, then the one
effect it calls for, never forced.

Merge when a person approved it (or `auto_merge` is on and `ao/review` passed) and the
repository's own checks are green, with the configured method; otherwise wait. A branch
behind its base that changes files the base changed since, or one GitHub finds conflicting,
is first brought up to date with GitHub's update-branch (never a local merge, never a
force-push), and its checks run again; what update-branch cannot merge is `Conflicted`.
Where GitHub refuses the merge (405: required reviews, checks) the bot says so in one edited
comment and waits; "Base branch was modified" (another merge or a push landed meanwhile) is
looked at again at once, a few times, before it is said. On merge: the story is `done` in
the sprint state (and its epic, in the same commit, when it was the epic's last), its
dependants whose dependencies are all done `ready-for-dev`, its worktree removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from gidgethub import BadRequest

from bot.project.epics import finished
from bot.project.sprint_edit import Change
from bot.project.state_commit import StateCommitter
from bot.stories import progress
from bot.stories.deliver import Place
from bot.stories.order import now_ready
from bot.stories.review import CHECK_NAME, verdict_mark
from bot.stories.sprint import sprint_view
from bot.templates import render

GREEN = ("success", "neutral", "skipped")
MERGEABLE_PAUSES_S = (0.1, 0.3)
#: GitHub's 405 when the base moved while it merged: the merge is decided again after these
BASE_MODIFIED = "Base branch was modified"
BASE_MODIFIED_PAUSES_S = (0.2, 0.5, 1.0)
#: GitHub's 405 where the merge itself finds a conflict.
NOT_MERGEABLE = "Pull Request is not mergeable"


@dataclasses.dataclass(frozen=True, slots=True)
class PullFacts:
    """What the decision reads, gathered from GitHub."""

    state: str  # open or closed
    merged: bool
    draft: bool
    mergeable: bool | None  # None: GitHub has not computed it yet
    behind_on_shared_files: bool  # behind its base, which changed files the story changes
    approved_by: tuple[str, ...]  # people whose latest verdict approves
    changes_requested_by: tuple[str, ...]
    review_passed: bool  # ao/review succeeded on the head (or the commit it was updated from)
    #: The repository's own check runs (the App has no `statuses` permission: a required
    #: commit status is enforced by GitHub's branch protection, its refusal said on the PR).
    pending: tuple[str, ...]  # the repository's own checks still running
    failing: tuple[str, ...]  # ... and those that failed


@dataclasses.dataclass(frozen=True, slots=True)
class MergeNow:
    method: str


@dataclasses.dataclass(frozen=True, slots=True)
class UpdateFirst:
    """Bring the branch up to date with its base (GitHub's update-branch), test again."""


@dataclasses.dataclass(frozen=True, slots=True)
class Wait:
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Conflicted:
    """The branch conflicts with its base: the developer's, with the conflict."""

    key: str
    files: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Merged:
    key: str
    sha: str
    ready: tuple[str, ...]  # dependants now ready-for-dev


Decision = MergeNow | UpdateFirst | Wait
MergeResult = Merged | Wait | Conflicted


def decide(facts: PullFacts, *, auto_merge: bool, method: str) -> Decision:
    """What to do with the story's pull request now (pure)."""
    if facts.state != "open":
        return Wait("the pull request is closed")
    if facts.draft:
        return Wait("the pull request is a draft: the story is not verified yet")
    if facts.mergeable is False:  # GitHub's update-branch tries; what it cannot merge, conflicts
        return UpdateFirst()
    if facts.changes_requested_by:
        return Wait(f"changes are requested by {', '.join(facts.changes_requested_by)}")
    if not facts.approved_by and not (auto_merge and facts.review_passed):
        if auto_merge:
            return Wait(f"{CHECK_NAME} has not passed on the head commit")
        return Wait("waiting for a person's approving review")
    if facts.behind_on_shared_files:
        return UpdateFirst()
    if facts.failing:
        return Wait(f"the repository's checks fail: {', '.join(facts.failing)}")
    if facts.pending:
        return Wait(f"the repository's checks run: {', '.join(facts.pending)}")
    # Mergeability not computed yet (GitHub answers null after every push to the base, so
    # with many stories merging it is often unknown) holds nothing up: GitHub decides at the
    # merge itself, and a conflict it finds there is waited out until it says `false`.
    return MergeNow(method)


def verdicts(reviews: Sequence[Mapping[str, Any]], app_login: str) -> tuple[list[str], list[str]]:
    """(approved by, changes requested by): each person's latest verdict."""
    latest: dict[str, str] = {}
    for review in reviews:
        login = str((review.get("user") or {}).get("login"))
        state = str(review.get("state"))
        if login != app_login and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = state
    approved = sorted(k for k, v in latest.items() if v == "APPROVED")
    return approved, sorted(k for k, v in latest.items() if v == "CHANGES_REQUESTED")


async def gather(place: Place, pull: Mapping[str, Any]) -> PullFacts:
    """The facts of the pull request as GitHub says them now."""
    gh, full = place.gh, place.repository["full_name"]
    head, base = str(pull["head"]["sha"]), str(pull["base"]["ref"])
    reviews = [dict(r) async for r in gh.getiter(f"{pull['url']}/reviews?per_page=100")]
    approved, changes = verdicts(reviews, place.identity.name)
    runs = await gh.getitem(f"/repos/{full}/commits/{head}/check-runs?per_page=100")
    pending, failing, review_passed = [], [], False
    for run in runs.get("check_runs") or []:
        name = str(run["name"])
        if name == CHECK_NAME:
            review_passed = review_passed or run.get("conclusion") == "success"
        elif name.startswith("ao/"):
            continue
        elif run.get("status") != "completed":
            pending.append(name)
        elif run.get("conclusion") not in GREEN:
            failing.append(name)
    if not review_passed:
        review_passed = await _passed_before_update(place, pull, reviews)
    return PullFacts(
        state=str(pull["state"]),
        merged=bool(pull.get("merged")),
        draft=bool(pull.get("draft")),
        mergeable=pull.get("mergeable"),
        behind_on_shared_files=await _behind_on_shared_files(place, head, base),
        approved_by=tuple(approved),
        changes_requested_by=tuple(changes),
        review_passed=review_passed,
        pending=tuple(pending),
        failing=tuple(failing),
    )


async def _passed_before_update(
    place: Place, pull: Mapping[str, Any], reviews: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether the App's passing review is of the commit the head was updated from (an
    update-branch merge of the base changes no line the reviewer read)."""
    full = place.repository["full_name"]
    commit = await place.gh.getitem(f"/repos/{full}/commits/{pull['head']['sha']}")
    parents = [str(p["sha"]) for p in commit.get("parents") or []]
    message = str((commit.get("commit") or {}).get("message", ""))
    if len(parents) != 2 or not message.startswith("Merge branch"):
        return False
    return any(
        (r.get("user") or {}).get("login") == place.identity.name
        and r.get("commit_id") == parents[0]
        and verdict_mark(True) in str(r.get("body"))
        for r in reviews
    )


async def _behind_on_shared_files(place: Place, head: str, base: str) -> bool:
    full = place.repository["full_name"]
    ahead = await place.gh.getitem(f"/repos/{full}/compare/{base}...{head}")
    if not int(ahead.get("behind_by") or 0):
        return False
    theirs = await place.gh.getitem(f"/repos/{full}/compare/{head}...{base}")
    ours = {str(f["filename"]) for f in ahead.get("files") or []}
    return bool(ours & {str(f["filename"]) for f in theirs.get("files") or []})


async def merge_story(
    place: Place,
    key: str,
    pull_number: int,
    *,
    auto_merge: bool = False,
    method: str = "merge",
    state: StateCommitter | None = None,
    deps: Mapping[str, Collection[str]] | None = None,  # None: read from the default branch
    issue: int | None = None,
) -> MergeResult:
    """Merge story `key`'s pull request if it may be merged now, else say why it waits."""
    for again, pause in enumerate(BASE_MODIFIED_PAUSES_S):
        result = await _merge_once(place, key, pull_number, auto_merge, method, state, deps,
                                   issue, say_refused=False, patient=again > 0)  # fmt: skip
        if result is not None:
            return result
        await asyncio.sleep(pause)  # another merge landed meanwhile: decided again
    result = await _merge_once(place, key, pull_number, auto_merge, method, state, deps, issue)
    assert result is not None
    return result


async def _merge_once(
    place: Place, key: str, pull_number: int, auto_merge: bool, method: str,
    state: StateCommitter | None, deps: Mapping[str, Collection[str]] | None,
    issue: int | None, *, say_refused: bool = True, patient: bool = True,
) -> MergeResult | None:  # fmt: skip
    """`merge_story` once; None where GitHub said the base moved, or found a conflict before
    it said whether there is one, and `say_refused` is off. Where it would merge now, only
    a `patient` look waits for GitHub to compute the mergeability: null holds no merge up,
    and GitHub's merge finds a conflict itself (twenty stories merging at once waited
    0.1-0.4 s each for it)."""
    pull = await read_pull(place, pull_number, patient=patient)
    if pull.get("merged"):
        return await on_merged(place, key, str(pull["merge_commit_sha"]), state, deps, issue)
    facts = await gather(place, pull)
    decision = decide(facts, auto_merge=auto_merge, method=method)
    if not isinstance(decision, MergeNow) and facts.mergeable is None and not patient:
        # A conflict is said before anything else: only GitHub's word on it can change this.
        computed = (await read_pull(place, pull_number)).get("mergeable")
        facts = dataclasses.replace(facts, mergeable=computed)
        decision = decide(facts, auto_merge=auto_merge, method=method)
    if isinstance(decision, Wait):
        return decision
    if isinstance(decision, UpdateFirst):
        try:
            await place.gh.put(
                f"{pull['url']}/update-branch", data={"expected_head_sha": pull["head"]["sha"]}
            )
        except BadRequest as exc:  # 422: the base and head conflict, or the head moved
            if exc.status_code != 422:
                raise
            if "expected head sha" in str(exc):
                return Wait("the branch moved meanwhile: it is looked at again")
            return Conflicted(key, await conflicting_files(place, pull))
        return Wait(f"brought up to date with {pull['base']['ref']}: the checks run again")
    data = {"merge_method": decision.method, "sha": pull["head"]["sha"]}
    mark = f"<!-- ao:merge:{key} -->"
    try:
        merged = await place.gh.put(f"{pull['url']}/merge", data=data)
    except BadRequest as exc:
        if exc.status_code not in (405, 409):
            raise
        said = str(exc.args[0]) if exc.args else exc.status_code.phrase
        if BASE_MODIFIED in said and not say_refused:
            return None
        if pull.get("mergeable") is None and NOT_MERGEABLE in said:  # a conflict, seen first
            if not say_refused:
                return None  # looked at again once GitHub has computed it
            return Wait("GitHub found the branch not mergeable: its mergeability decides next")
        body = render("stories/merge_refused.md.j2", key=key, reason=said, mark=mark, merged=False)
        await progress.show(place, pull, mark, body)
        return Wait(f"GitHub refuses the merge: {said}")
    said_before = await progress.find_own(place, str(pull["comments_url"]), mark)
    if said_before is not None:  # the refusal said earlier is history now
        body = render("stories/merge_refused.md.j2", key=key, reason="", mark=mark, merged=True)
        await progress.show(place, pull, mark, body)
    return await on_merged(place, key, str(merged["sha"]), state, deps, issue)


async def read_pull(place: Place, number: int, *, patient: bool = True) -> dict[str, Any]:
    """The pull request; `patient`, read again while GitHub computes its mergeability (it
    answers null and computes in the background), a few times with short pauses."""
    url = f"/repos/{place.repository['full_name']}/pulls/{number}"
    pull = dict(await place.gh.getitem(url))
    for pause in MERGEABLE_PAUSES_S if patient else ():
        if pull.get("mergeable") is not None or pull.get("state") != "open":
            break
        await asyncio.sleep(pause)
        pull = dict(await place.gh.getitem(url))
    return pull


async def conflicting_files(place: Place, pull: Mapping[str, Any]) -> tuple[str, ...]:
    """The files both the story and its base changed since they parted (the conflict's
    candidates, read from GitHub: nothing is merged here)."""
    full = place.repository["full_name"]
    head, base = pull["head"]["sha"], pull["base"]["ref"]
    ours = await place.gh.getitem(f"/repos/{full}/compare/{base}...{head}")
    theirs = await place.gh.getitem(f"/repos/{full}/compare/{head}...{base}")
    shared = {str(f["filename"]) for f in ours.get("files") or []} & {
        str(f["filename"]) for f in theirs.get("files") or []
    }
    return tuple(sorted(shared))


async def on_merged(
    place: Place,
    key: str,
    sha: str,
    state: StateCommitter | None,
    deps: Mapping[str, Collection[str]] | None,
    issue: int | None = None,
) -> Merged:
    """The story done (its epic too when it was the last), its issue closed, its dependants
    ready when all theirs are, its worktree gone."""
    ready: list[str] = []
    if state is not None:
        view = await sprint_view(state)
        ready = now_ready(view.statuses, view.deps if deps is None else deps, key)
        changes = [Change(key, "done"), *finished(view.epics, view.statuses, key)]
        changes += [Change(k, "ready-for-dev", seen="backlog") for k in ready]
        await state.commit(changes)
    url = f"/repos/{place.repository['full_name']}/issues/{issue}"
    found = dict(await place.gh.getitem(url)) if issue is not None else None
    await finish(place, key, found, seen=False)
    return Merged(key, sha, tuple(ready))


async def finish(
    place: Place, key: str, issue: Mapping[str, Any] | None, *, seen: bool = True
) -> None:
    """A done story's ends tied up: its worktree (and local branch) removed, then its issue
    closed (closed means finished). Where `seen`, what is done already is skipped (no
    worktree on disk, the issue closed) or a person's (the issue reopened), so a pass after a
    restart that cut `on_merged` short does what it left, and nothing more."""
    there = not seen or place.worktrees.path_for(key).exists()
    if key not in place.worktrees.busy and there:
        async with place.remote.exclusive():  # never beside a fetch of the same clone
            await place.worktrees.remove(key)
    if issue is not None and issue.get("state") == "open":
        if seen and issue.get("state_reason") == "reopened":
            return  # a person reopened the done story's issue: theirs to close
        url = f"/repos/{place.repository['full_name']}/issues/{issue['number']}"
        await place.gh.patch(url, data={"state": "closed", "state_reason": "completed"})
