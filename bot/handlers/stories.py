"""The sprint's wake-ups: a story pull request readied, reviewed, checked, merged or closed
wakes its repository's reconciler, which reads GitHub again and decides (never the event)."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.intake.dispatcher import HandlerContext

router = routing.Router()
STORY_BRANCH = "story/"


def about_a_story(data: dict[str, Any]) -> bool:
    """Whether the event concerns a `story/<key>` branch."""
    pull = data.get("pull_request") or {}
    if str((pull.get("head") or {}).get("ref", "")).startswith(STORY_BRANCH):
        return True
    suite = data.get("check_suite") or (data.get("check_run") or {}).get("check_suite") or {}
    if str(suite.get("head_branch") or "").startswith(STORY_BRANCH):
        return True
    pulls = suite.get("pull_requests") or (data.get("check_run") or {}).get("pull_requests") or []
    return any(str(p["head"]["ref"]).startswith(STORY_BRANCH) for p in pulls if p.get("head"))


@router.register("pull_request", action="ready_for_review")
@router.register("pull_request", action="closed")
@router.register("pull_request", action="reopened")
@router.register("pull_request", action="synchronize")
@router.register("pull_request_review", action="submitted")
@router.register("pull_request_review", action="dismissed")
@router.register("check_run", action="completed")
@router.register("check_suite", action="completed")
async def wake_sprint(event: sansio.Event, *, ctx: HandlerContext) -> None:
    sprints = ctx.services.sprints if ctx.services is not None else None
    if sprints is None or ctx.installation_id is None or not about_a_story(event.data):
        return
    sprints.wake(ctx.installation_id, event.data["repository"])
