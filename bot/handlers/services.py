"""What handlers may use, handed to them in their context rather than found in globals."""

from __future__ import annotations

import dataclasses

from bot.commands.registry import CommandRegistry
from bot.github.client import GitHubClients
from bot.github.permissions import PermissionCache


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    github: GitHubClients | None  # None: no App identity configured
    app_id: int | None
    commands: CommandRegistry
    permissions: PermissionCache = dataclasses.field(default_factory=PermissionCache)
