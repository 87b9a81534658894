"""The command registry: what `/ao` understands, and the answer to any command line."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterable

from bot.commands.parse import Command
from bot.templates import render

_SHOWABLE = re.compile(r"[^a-z0-9_-]")


@dataclasses.dataclass(frozen=True, slots=True)
class CommandRequest:
    """Who asked what, where: everything a command needs to answer."""

    command: Command
    user: str
    repository: str
    issue_number: int
    delivery_id: str
    commented_at: str
    comment_id: int = 0
    installation_id: int | None = None
    clone_url: str = ""  # where git reaches the repository (GitHub Enterprise too)
    html_url: str = ""  # where people see it
    default_branch: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    run: Callable[[CommandRequest], Awaitable[str]]
    max_args: int = 0


class CommandRegistry:
    """Commands by name; later issues add theirs with `add`."""

    def __init__(self, specs: Iterable[CommandSpec] = ()) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: CommandSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"/ao {spec.name} is registered twice")
        self._specs[spec.name] = spec

    def specs(self) -> list[CommandSpec]:
        return sorted(self._specs.values(), key=lambda s: s.name)

    async def answer(self, request: CommandRequest) -> str:
        """The reply to a command line: its result, or why it could not run."""
        command = request.command
        spec = self._specs.get(command.name)
        if spec is None:
            # Echo only a tame version of what was typed: the comment is untrusted text.
            shown = _SHOWABLE.sub("", command.name)[:40]
            return render("commands/unknown.md.j2", name=shown, specs=self.specs())
        if len(command.args) > spec.max_args:
            return render("commands/usage.md.j2", spec=spec)
        return await spec.run(request)
