"""`orchestrator serve` plus one no-op `issue_comment.created` handler, for the bench.

The product's only comment handler (`/ao` commands) asks for comments that mention `/ao`,
so `orchestrator serve` journals the bench's comment as done without dispatching it. The
gidgethub-minimal reference runs a (no-op) handler for every comment; so does this target,
so its row measures the whole path: journal, dispatch through the per-repository lane,
payload parsed for the handler, done mark.
"""

from __future__ import annotations

import os
import sys

from gidgethub import routing, sansio

from bot.cli import run_server
from bot.handlers import default_routers
from bot.intake.dispatcher import HandlerContext
from bot.logs import configure_logging
from bot.settings import Settings
from bot.web.app import create_app

router = routing.Router()


@router.register("issue_comment", action="created")
async def noop(event: sansio.Event, *, ctx: HandlerContext) -> None:
    return None


def main() -> None:
    settings = Settings.from_env(os.environ).with_overrides(port=int(sys.argv[1]))
    assert settings.webhook_secret
    configure_logging(settings.log_level, secrets=[settings.webhook_secret])
    run_server(create_app(settings, routers=[*default_routers(), router]), settings)


if __name__ == "__main__":
    main()
