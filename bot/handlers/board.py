"""GitHub as the board: a push that touches the sprint status makes a board pass; a person's
`story:` label, close or reopen on a story issue steers the story. Bots are never obeyed."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.handlers.services import installation_client
from bot.intake.dispatcher import HandlerContext
from bot.project.location import FILE_NAME
from bot.project.story_issues import PREFIX

router = routing.Router()
#: A push webhook lists at most this many commits.
LISTED_COMMITS = 20


def sent_by_a_bot(data: dict[str, Any]) -> bool:
    """The App's own changes (and other bots') never come back as a person's command."""
    sender = data.get("sender") or {}
    return sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]")


def touches_sprint_status(data: dict[str, Any]) -> bool:
    """A push to the default branch that changed a `sprint-status.yaml` (wherever the
    install keeps it; the pass finds which)."""
    repository = data.get("repository") or {}
    if data.get("ref") != f"refs/heads/{repository.get('default_branch')}" or data.get("deleted"):
        return False
    commits = data.get("commits") or []
    if len(commits) >= LISTED_COMMITS:  # GitHub lists no more: the file may be in the rest
        return True
    for commit in commits:
        for path in (*commit.get("added", ()), *commit.get("modified", ())):
            if str(path).rsplit("/", 1)[-1] == FILE_NAME:
                return True
    return False


@router.register("push")
async def pass_after_push(event: sansio.Event, *, ctx: HandlerContext) -> None:
    steering = ctx.services.steering if ctx.services is not None else None
    if steering is None or ctx.installation_id is None or not touches_sprint_status(event.data):
        return
    steering.board.wake(ctx.installation_id, event.data["repository"])


@router.register("issues", action="labeled")
@router.register("issues", action="unlabeled")
async def steer_by_label(event: sansio.Event, *, ctx: HandlerContext) -> None:
    data = event.data
    label = str((data.get("label") or {}).get("name") or "")
    steering = ctx.services.steering if ctx.services is not None else None
    if steering is None or sent_by_a_bot(data) or not label.lower().startswith(PREFIX):
        return
    gh = await installation_client(ctx)
    if gh is None or ctx.services is None or ctx.installation_id is None:
        return
    person = data["sender"]["login"]
    if not await ctx.services.permissions.can_steer(gh, data["repository"]["url"], person):
        await steering.refuse(gh, ctx.installation_id, data, ctx.delivery_id)
    elif data["action"] == "labeled":
        await steering.labeled(gh, ctx.installation_id, data, ctx.delivery_id)
    else:
        steering.unlabeled(ctx.installation_id, data)


@router.register("issues", action="closed")
@router.register("issues", action="reopened")
async def stop_or_resume(event: sansio.Event, *, ctx: HandlerContext) -> None:
    steering = ctx.services.steering if ctx.services is not None else None
    if steering is None or ctx.installation_id is None or sent_by_a_bot(event.data):
        return
    steering.closed_or_reopened(ctx.installation_id, event.data)
