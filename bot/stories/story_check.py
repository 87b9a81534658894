"""The story's own check run (`ao/story`) on its branch's head: in progress while the
developer works, success once verified, failure when blocked; one per commit, found again
by its external id, so a retry edits it rather than adding another."""

from __future__ import annotations

from typing import Any

import gidgethub

from bot.stories.deliver import Place
from bot.templates import render

CHECK_NAME = "ao/story"
TITLES = {"started": "Developing", "verified": "Verified: the tests pass", "blocked": "Blocked"}


async def branch_head(place: Place, branch: str) -> str | None:
    """The branch's commit on GitHub; None when it is not there (yet)."""
    full = place.repository["full_name"]
    try:
        ref = await place.gh.getitem(f"/repos/{full}/git/ref/heads/{branch}")
    except gidgethub.BadRequest:  # 404
        return None
    return str(ref["object"]["sha"])


async def show_story_check(
    place: Place, key: str, head_sha: str, state: str, *, command: str = "", reason: str = ""
) -> dict[str, Any]:
    """`ao/story` on `head_sha` as `state` (started, verified or blocked)."""
    full = place.repository["full_name"]
    summary = render("stories/story_check.md.j2", state=state, key=key, command=command,
                     reason=reason)  # fmt: skip
    fields: dict[str, Any] = {"output": {"title": TITLES[state], "summary": summary}}
    if state == "started":
        fields["status"] = "in_progress"
    else:
        fields |= {"status": "completed",
                   "conclusion": "success" if state == "verified" else "failure"}  # fmt: skip
    external = f"story:{key}"
    listed = await place.gh.getitem(
        f"/repos/{full}/commits/{head_sha}/check-runs?check_name={CHECK_NAME}&per_page=100"
    )
    for run in listed.get("check_runs") or []:
        if run.get("external_id") == external:
            return dict(await place.gh.patch(f"/repos/{full}/check-runs/{run['id']}", data=fields))
    data = {"name": CHECK_NAME, "head_sha": head_sha, "external_id": external, **fields}
    return dict(await place.gh.post(f"/repos/{full}/check-runs", data=data))
