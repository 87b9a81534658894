"""Plans move on when a phase's pull request is merged, by a person or by the bot."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.intake.dispatcher import HandlerContext

router = routing.Router()


@router.register("pull_request", action="closed")
async def move_plan_on(event: sansio.Event, *, ctx: HandlerContext) -> None:
    pull = event.data["pull_request"]
    head = str((pull.get("head") or {}).get("ref") or "")
    if not pull.get("merged") or not head.startswith("ao/"):
        return
    planner = ctx.services.planner if ctx.services is not None else None
    if planner is None:
        return
    await planner.merged(event.data["repository"]["full_name"], head)
