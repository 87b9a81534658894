"""`/ao` commands in issue and PR comments: permission, 👀, then exactly one answer.

The answer carries a marker keyed by the comment, so a redelivery, a retry or a restart
after a crash finds the earlier answer instead of posting a second one.
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.commands.parse import find_command
from bot.commands.registry import CommandRequest
from bot.github.markers import find_marked_comment, marker
from bot.handlers.services import installation_client
from bot.intake.dispatcher import HandlerContext
from bot.intake.routing import only_if_payload_mentions
from bot.templates import render

router = routing.Router()


def written_by_a_bot(comment: dict[str, Any]) -> bool:
    """Bots (this App included) are never obeyed: no loops, no commands by proxy."""
    user = comment.get("user") or {}
    return (
        user.get("type") == "Bot"
        or str(user.get("login", "")).endswith("[bot]")
        or bool(comment.get("performed_via_github_app"))
    )


@router.register("issue_comment", action="created")
@only_if_payload_mentions("/ao")  # most comments are not commands: never parsed
async def answer_command(event: sansio.Event, *, ctx: HandlerContext) -> None:
    comment = event.data["comment"]
    if written_by_a_bot(comment):
        return
    command = find_command(comment.get("body") or "")
    if command is None:
        return
    gh = await installation_client(ctx)
    services = ctx.services
    if gh is None or services is None or services.app_id is None:
        return
    repository = event.data["repository"]
    issue = event.data["issue"]
    user = comment["user"]["login"]

    if not await services.permissions.can_steer(gh, repository["url"], user):
        refusal = marker("refused", f"{comment['user']['id']}")
        if not await find_marked_comment(gh, issue["comments_url"], refusal, services.app_id):
            body = render("commands/refused.md.j2", user=user)
            await gh.post(issue["comments_url"], data={"body": f"{body}\n\n{refusal}"})
        return

    await gh.post(comment["url"] + "/reactions", data={"content": "eyes"},
                  accept="application/vnd.github+json")  # fmt: skip
    answered = marker("answer", comment["id"])
    if await find_marked_comment(gh, issue["comments_url"], answered, services.app_id):
        return  # answered before a crash or by an earlier attempt
    request = CommandRequest(
        command=command,
        user=user,
        repository=repository["full_name"],
        issue_number=issue["number"],
        delivery_id=ctx.delivery_id,
        commented_at=comment["created_at"],
        comment_id=int(comment["id"]),
        installation_id=ctx.installation_id,
        clone_url=str(repository.get("clone_url") or ""),
        html_url=str(repository.get("html_url") or ""),
        default_branch=str(repository.get("default_branch") or ""),
    )
    body = await services.commands.answer(request)
    await gh.post(issue["comments_url"], data={"body": f"{body}\n\n{answered}"})
