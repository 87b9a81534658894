"""An escalation issue closed by a person without an answer cancels the run that asked it."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.github.markers import written_by_app
from bot.intake.dispatcher import HandlerContext
from bot.runs.escalations import LABEL

router = routing.Router()


@router.register("issues", action="closed")
async def cancel_unanswered(event: sansio.Event, *, ctx: HandlerContext) -> None:
    issue, sender = event.data["issue"], event.data.get("sender") or {}
    services = ctx.services
    if services is None or services.run_steering is None or services.app_id is None:
        return
    # The App closes questions it had answered: only a person's close cancels.
    if sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]"):
        return
    if not written_by_app(issue, services.app_id):
        return
    if LABEL not in {str(label.get("name")) for label in issue.get("labels") or []}:
        return
    await services.run_steering.escalation_closed(
        event.data["repository"]["full_name"], issue, str(sender.get("login"))
    )
