"""What handlers may use, handed to them in their context rather than found in globals."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from gidgethub.abc import GitHubAPI

from bot.commands.registry import CommandRegistry
from bot.github.client import GitHubClients
from bot.github.permissions import PermissionCache

if TYPE_CHECKING:
    from bot.intake.dispatcher import HandlerContext
    from bot.project.plan import Planner
    from bot.project.story_labels import LabelSteering
    from bot.runs.steering import Steering
    from bot.stories.sprints import Sprints

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    github: GitHubClients | None  # None: no App identity configured
    app_id: int | None
    commands: CommandRegistry
    permissions: PermissionCache = dataclasses.field(default_factory=PermissionCache)
    planner: Planner | None = None  # plans move on when their pull requests merge
    steering: LabelSteering | None = None  # story issues, their labels, the status issue
    run_steering: Steering | None = None  # runs steered from comments and their questions
    sprints: Sprints | None = None  # the stories' reconcilers, woken by their pull requests


async def installation_client(ctx: HandlerContext) -> GitHubAPI | None:
    """A client for the delivery's installation, or None when the bot cannot act on GitHub."""
    services = ctx.services
    if services is None or services.github is None or ctx.installation_id is None:
        log.warning(
            "no GitHub App identity or installation: nothing done on GitHub",
            extra={"delivery_id": ctx.delivery_id},
        )
        return None
    return await services.github.installation(ctx.installation_id)
