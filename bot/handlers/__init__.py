"""The product's webhook handlers: one `Router` per concern, combined here."""

from __future__ import annotations

from gidgethub import routing

from bot.handlers import (
    board,
    checks,
    commands,
    escalations,
    installation,
    ping,
    plans,
    stories,
)


def default_routers() -> list[routing.Router]:
    return [
        board.router,
        checks.router,
        commands.router,
        escalations.router,
        installation.router,
        ping.router,
        plans.router,
        stories.router,
    ]
