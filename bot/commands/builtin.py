"""The commands every installation has: `/ao help` and `/ao ping`."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable

from bot.commands.registry import CommandRegistry, CommandRequest, CommandSpec
from bot.templates import render


def default_registry() -> CommandRegistry:
    registry = CommandRegistry()
    registry.add(CommandSpec("help", "/ao help", "list the commands", _help(registry)))
    registry.add(CommandSpec("ping", "/ao ping", "check that the bot hears you", _ping))
    return registry


def _help(registry: CommandRegistry) -> Callable[[CommandRequest], Awaitable[str]]:
    async def run(request: CommandRequest) -> str:
        return render("commands/help.md.j2", specs=registry.specs())

    return run


async def _ping(request: CommandRequest) -> str:
    commented = datetime.datetime.fromisoformat(request.commented_at.replace("Z", "+00:00"))
    lag = datetime.datetime.now(datetime.UTC) - commented
    return render(
        "commands/pong.md.j2",
        user=request.user,
        delivery_id=request.delivery_id,
        seconds=max(0.0, round(lag.total_seconds(), 1)),
    )
