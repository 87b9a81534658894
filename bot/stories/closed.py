"""A story whose pull request was closed without merging: its work stops, its issue is
labelled `story: blocked` with one comment saying who closed it and how to go on, and nothing
is started for it (no second pull request) while the pull request stays closed. Reopening the
pull request, or `/ao retry` (which reopens it), resumes the story from its branch.

The closing is GitHub's fact, the pull request's state, read again on every pass: a restart
never loses it. The comment is found again by a marker keyed by the pull request and the time
it was closed (a second closing is said again); when the pull request is open again the
comment is edited to say so and the label comes off.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.github.markers import find_marked_comment, marker, written_by_app
from bot.project.statuses import known
from bot.project.story_issues import workable
from bot.stories.blocked import LABEL, unblock
from bot.templates import render

log = logging.getLogger(__name__)
#: The statuses a closed pull request stops (the ones the sprint would work on).
HELD = ("ready-for-dev", "in-progress", "review")
_CLOSING = "pr-closed"
_REOPENED = "pr-reopened"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


def closed_unmerged(pull: Mapping[str, Any] | None) -> bool:
    return pull is not None and pull.get("state") == "closed" and not pull.get("merged_at")


def stops(status: str | None, pull: Mapping[str, Any] | None) -> bool:
    """Whether the story's closed pull request holds it (a done or backlog story has nothing
    to stop)."""
    return closed_unmerged(pull) and known(status) in HELD


def closing_mark(key: str, pull: Mapping[str, Any]) -> str:
    when = _UNSAFE.sub("", str(pull.get("closed_at") or ""))
    return marker(_CLOSING, f"{key}:{pull['number']}:{when}")


@dataclasses.dataclass
class Closings:
    """What one repository's reconciler remembers of its closed story pull requests: only
    what spares asking GitHub again (GitHub holds the facts)."""

    said: dict[str, str] = dataclasses.field(default_factory=dict)  # story -> closing said
    looked: set[str] = dataclasses.field(default_factory=set)  # reopening looked for

    async def held(
        self, gh: GitHubAPI, app_id: int, key: str, status: str | None,
        issue: Mapping[str, Any] | None, pull: Mapping[str, Any] | None,
    ) -> bool:  # fmt: skip
        """Whether the story's closed pull request holds it now (said once on its issue)."""
        if not stops(status, pull):
            return False
        assert pull is not None
        mark = closing_mark(key, pull)
        if issue is not None and self.said.get(key) != mark:
            await stop(gh, app_id, key, status, issue, pull)
            self.said[key] = mark
        return True

    async def reopened(
        self, gh: GitHubAPI, app_id: int, key: str, issue: Mapping[str, Any] | None,
        pull: Mapping[str, Any] | None,
    ) -> bool:  # fmt: skip
        """Whether the story was held by a closed pull request that is open again, and is
        resumed now (looked for once after a restart, where its issue is labelled blocked)."""
        if pull is None or pull.get("state") != "open" or issue is None:
            return False
        if key not in self.said and (key in self.looked or workable(issue)):
            return False
        self.said.pop(key, None)
        self.looked.add(key)
        return await resume(gh, app_id, key, issue, pull)


async def stop(
    gh: GitHubAPI, app_id: int, key: str, status: str | None, issue: Mapping[str, Any],
    pull: Mapping[str, Any],
) -> bool:  # fmt: skip
    """The story's issue labelled blocked and told once per closing; whether it was now."""
    mark = closing_mark(key, pull)
    comments = str(issue["comments_url"])
    if await find_marked_comment(gh, comments, mark, app_id) is not None:
        return False
    full = str(pull["base"]["repo"]["full_name"])
    closed = await gh.getitem(f"/repos/{full}/issues/{pull['number']}")
    by = str((closed.get("closed_by") or {}).get("login") or "")
    names = [str(label.get("name")).lower() for label in issue.get("labels") or []]
    if LABEL not in names:  # first: a restart between the two finds no comment and does both
        await gh.post(f"{issue['url']}/labels", data={"labels": [LABEL]})
    body = render("stories/pull_closed.md.j2", by=by, number=pull["number"], key=key,
                  status=status, mark=mark)  # fmt: skip
    await gh.post(comments, data={"body": body})
    extra = {"repository": full, "story": key, "pull": pull["number"], "by": by}
    log.info("a story's pull request was closed: the story stops", extra=extra)
    return True


async def resume(
    gh: GitHubAPI, app_id: int, key: str, issue: Mapping[str, Any], pull: Mapping[str, Any]
) -> bool:
    """The pull request is open again: each closing comment still standing says so, and the
    `story: blocked` label comes off; whether there was one."""
    prefix = f"<!-- ao:{_CLOSING}:{key}:"
    standing = [
        dict(comment)
        async for comment in gh.getiter(f"{issue['comments_url']}?per_page=100")
        if written_by_app(comment, app_id)
        and prefix in (body := str(comment.get("body") or ""))
        and f"<!-- ao:{_REOPENED}:" not in body
    ]
    if not standing:
        return False
    said = render("stories/pull_reopened.md.j2", number=pull["number"], key=key,
                  mark=marker(_REOPENED, key))  # fmt: skip
    for comment in standing:
        await gh.patch(comment["url"], data={"body": f"{comment['body']}\n\n{said}"})
    await unblock(gh, str(issue["url"]))
    log.info("a story's pull request is open again: the story goes on",
             extra={"repository": pull["base"]["repo"]["full_name"], "story": key})  # fmt: skip
    return True


async def latest_pull(
    gh: GitHubAPI, repository: Mapping[str, Any], key: str
) -> dict[str, Any] | None:
    """The story's pull request (by its head branch): the open one, else the merged one, else
    the newest closed one."""
    head = quote(f"{repository['owner']['login']}:story/{key}", safe="")
    url = f"/repos/{repository['full_name']}/pulls?head={head}&state=all&per_page=100"
    pulls = [dict(p) async for p in gh.getiter(url)]
    pulls.sort(key=lambda p: (p.get("state") == "open", bool(p.get("merged_at")), p["number"]))
    return pulls[-1] if pulls else None


async def reopen(gh: GitHubAPI, pull: Mapping[str, Any]) -> str:
    """Reopen the story's closed pull request, its branch first put back where it was if
    someone deleted it; "" when it is open, else what GitHub said."""
    full = str(pull["base"]["repo"]["full_name"])
    branch = str(pull["head"]["ref"])
    try:
        await gh.getitem(f"/repos/{full}/git/ref/heads/{branch}")
    except BadRequest as exc:
        if exc.status_code != 404:
            raise
        try:  # GitHub keeps the pull request's commits: its head can be a branch again
            await gh.post(
                f"/repos/{full}/git/refs",
                data={"ref": f"refs/heads/{branch}", "sha": pull["head"]["sha"]},
            )
        except BadRequest as refused:  # fmt: skip
            return str(refused) or refused.status_code.phrase
    try:
        await gh.patch(str(pull["url"]), data={"state": "open"})
    except BadRequest as exc:
        return str(exc) or exc.status_code.phrase
    return ""
