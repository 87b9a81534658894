"""Installing the App sets repositories up; uninstalling or suspending it stops its work."""

from __future__ import annotations

import logging

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.github.labels import ensure_labels
from bot.handlers.services import installation_client
from bot.intake.dispatcher import HandlerContext

log = logging.getLogger(__name__)
router = routing.Router()


@router.register("installation", action="created")
@router.register("installation", action="unsuspend")
@router.register("installation", action="new_permissions_accepted")
async def label_installation(event: sansio.Event, *, ctx: HandlerContext) -> None:
    """Every repository of the installation gets the story labels it lacks.

    The list comes from the API, not the payload, which may leave repositories out when the
    App is installed on all of an organisation's. Labels already made are skipped, so a
    retried delivery carries on where the last attempt stopped.
    """
    gh = await installation_client(ctx)
    if gh is None:
        return
    async for repository in gh.getiter("/installation/repositories", iterable_key="repositories"):
        await _label(gh, repository["full_name"], ctx)


@router.register("installation_repositories", action="added")
async def label_added_repositories(event: sansio.Event, *, ctx: HandlerContext) -> None:
    gh = await installation_client(ctx)
    if gh is None:
        return
    for repository in event.data.get("repositories_added") or []:
        await _label(gh, repository["full_name"], ctx)


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def forget_installation(event: sansio.Event, *, ctx: HandlerContext) -> None:
    """No more work or tokens for it: its token is dropped at once."""
    services = ctx.services
    if services is not None and services.github is not None and ctx.installation_id is not None:
        services.github.forget(ctx.installation_id)
        log.info(
            "installation forgotten",
            extra={"installation_id": ctx.installation_id, "reason": event.data["action"]},
        )


async def _label(gh: GitHubAPI, full_name: str, ctx: HandlerContext) -> None:
    created = await ensure_labels(gh, full_name)
    if created:
        log.info("labels created", extra={"repository": full_name, "labels": created,
                                          "delivery_id": ctx.delivery_id})  # fmt: skip
