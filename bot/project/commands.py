"""`/ao approve`: a person lets a plan's phase through (the bot merges its pull request)."""

from __future__ import annotations

from bot.commands.registry import CommandRegistry, CommandRequest, CommandSpec
from bot.project.plan import Planner
from bot.templates import render


class PlanCommands:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    def add_to(self, registry: CommandRegistry) -> None:
        registry.add(CommandSpec(
            "approve", "/ao approve",
            "on a plan's issue: merge the phase waiting for approval, and go on", self.approve,
        ))  # fmt: skip

    async def approve(self, request: CommandRequest) -> str:
        plans = [
            home
            for home in await self.planner.homes()
            if home.repository == request.repository and home.issue == request.issue_number
        ]
        if not plans:
            return render("plans/no_plan.md.j2")
        return await self.planner.approve(plans[-1], request.user)
