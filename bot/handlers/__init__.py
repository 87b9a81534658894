"""The product's webhook handlers: one `Router` per concern, combined here."""

from __future__ import annotations

from gidgethub import routing

from bot.handlers import commands, escalations, installation, ping


def default_routers() -> list[routing.Router]:
    return [commands.router, escalations.router, installation.router, ping.router]
