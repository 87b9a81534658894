"""A story that cannot go on: its issue labelled `story: blocked` and one escalation issue
saying what was tried, what fails and where the branch is, found again by a marker keyed by
the story and its branch's head (a restart finds it; a later block on new work is new)."""

from __future__ import annotations

import logging

from gidgethub.abc import GitHubAPI

from bot.github.markers import marker
from bot.project.statuses import BLOCKED
from bot.project.story_issues import PREFIX
from bot.project.story_sync import remove_label
from bot.runs.escalations import find_or_open
from bot.stories.deliver import Place
from bot.stories.story_check import branch_head
from bot.templates import render

log = logging.getLogger(__name__)
LABEL = PREFIX + BLOCKED


async def cycle_escalation(place: Place, app_id: int, ring: tuple[str, ...]) -> dict[str, object]:
    """One escalation issue for a dependency cycle (by its stories, whichever starts it)."""
    full = str(place.repository["full_name"])
    mark = marker("dependency-cycle", ":".join(sorted(set(ring))))
    body = render("stories/cycle_issue.md.j2", ring=" → ".join(ring), mark=mark)
    return await find_or_open(
        place.gh, full, app_id, title="The sprint's stories depend on each other in a ring",
        body=body, mark=mark, assignee=str(place.repository["owner"]["login"]),
    )  # fmt: skip


async def unblock(gh: GitHubAPI, issue_url: str) -> bool:
    """The story's `story: blocked` label taken off; whether it had it."""
    issue = await gh.getitem(issue_url)
    if not any(str(label.get("name")).lower() == LABEL for label in issue.get("labels") or []):
        return False
    await remove_label(gh, issue_url, LABEL)
    return True


async def escalate(
    place: Place, app_id: int, key: str, issue: int | None, text: str, branch: str
) -> dict[str, object]:
    """Label the story blocked, then open (or find) its escalation; the escalation issue."""
    full = str(place.repository["full_name"])
    if issue is not None:
        await place.gh.post(f"/repos/{full}/issues/{issue}/labels", data={"labels": [LABEL]})
    head = await branch_head(place, branch)  # None: GitHub refused it; the work is in the clone
    mark = marker("story-blocked", f"{key}:{head[:12] if head else 'unpushed'}")
    body = render("stories/blocked_issue.md.j2", text=text, issue=issue, branch=branch, mark=mark)
    owner = str(place.repository["owner"]["login"])
    found = await find_or_open(
        place.gh, full, app_id, title=f"Story {key} is blocked", body=body, mark=mark,
        assignee=owner,
    )  # fmt: skip
    log.info("a story is blocked", extra={"repository": full, "story": key,
                                           "escalation": found.get("number")})  # fmt: skip
    return found
