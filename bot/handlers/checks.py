"""The buttons of a run's `ao/run` check run: Approve merges its pull request (a plan's phase
through the plan, so it moves on), Retry goes on from its branch. GitHub shows them only on a
completed check run, to people with write access; a press is still checked here (a delivery
is not a promise of who could see the button), and one by anyone else changes nothing."""

from __future__ import annotations

import asyncio
import logging

from gidgethub import routing, sansio

from bot.commands.parse import Command
from bot.commands.registry import CommandRequest
from bot.github.markers import find_marked_comment, marker
from bot.handlers.commands import written_by_a_bot
from bot.handlers.services import installation_client
from bot.intake.dispatcher import HandlerContext
from bot.runs.checks import CHECK_NAME
from bot.runs.github_home import Home
from bot.runs.jobs import Job
from bot.runs.states import FINISHED
from bot.runs.steering import Steering
from bot.templates import render

router = routing.Router()
log = logging.getLogger(__name__)
#: A run's check completes just before its end is recorded: a press in between waits for it.
SETTLE_WAITS, SETTLE_WAIT_S = 30, 0.5


async def _settled(steering: Steering, repository: str, run_id: str) -> Job | None:
    """The run's newest job, once a finished check's run is recorded as finished."""
    job = None
    for _ in range(SETTLE_WAITS):
        job = await steering.job_of_run(repository, run_id)
        if job is None or job.state in FINISHED:
            return job
        await asyncio.sleep(SETTLE_WAIT_S)
    return job


@router.register("check_run", action="requested_action")
async def press_button(event: sansio.Event, *, ctx: HandlerContext) -> None:
    run, sender = event.data["check_run"], event.data["sender"]
    services = ctx.services
    if services is None or services.app_id is None or run.get("name") != CHECK_NAME:
        return
    if (run.get("app") or {}).get("id") != services.app_id or written_by_a_bot({"user": sender}):
        return
    gh = await installation_client(ctx)
    if gh is None:
        return
    repository, login = event.data["repository"], str(sender["login"])
    if not await services.permissions.can_steer(gh, repository["url"], login):
        log.info("a button press by someone without write access",
                 extra={"delivery_id": ctx.delivery_id, "user": login})  # fmt: skip
        return
    steering, planner = services.run_steering, services.planner
    if steering is None:
        return
    job = await _settled(steering, repository["full_name"], str(run.get("external_id") or ""))
    if job is None or job.home is None:
        return
    home = Home.from_json(job.home)
    action = str((event.data.get("requested_action") or {}).get("identifier") or "")
    if action == "approve":
        plan = job.home.get("plan")
        if planner is not None and isinstance(plan, dict):
            answer = await planner.approve(Home.from_json(job.home | {"run_id": str(plan["id"])}),
                                           login)  # fmt: skip
        else:
            answer = await steering.merge_run(job, login)
    elif action == "retry":
        request = CommandRequest(
            command=Command("retry", (job.branch,) if job.branch else ()),
            user=login,
            repository=repository["full_name"],
            issue_number=home.issue,
            delivery_id=ctx.delivery_id,
            commented_at="",
            installation_id=ctx.installation_id,
        )
        answer = await steering.retry(request)
    else:
        return
    pressed = marker("pressed", f"{run['id']}-{ctx.delivery_id}")
    if await find_marked_comment(gh, home.comments_url, pressed, services.app_id) is None:
        body = render("runs/pressed.md.j2", by=login, action=action, answer=answer)
        await gh.post(home.comments_url, data={"body": f"{body}\n\n{pressed}"})
