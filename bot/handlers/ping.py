"""GitHub's `ping`: sent when the App's webhook is set up; proves deliveries arrive."""

from __future__ import annotations

import logging

from gidgethub import routing, sansio

from bot.intake.dispatcher import HandlerContext

log = logging.getLogger(__name__)
router = routing.Router()


@router.register("ping")
async def acknowledge_ping(event: sansio.Event, *, ctx: HandlerContext) -> None:
    hook = event.data.get("hook") or {}
    log.info(
        "webhook ping received",
        extra={
            "delivery_id": ctx.delivery_id,
            "hook_id": event.data.get("hook_id"),
            "app_id": hook.get("app_id"),
            "events": hook.get("events"),
            "zen": event.data.get("zen"),
        },
    )
