"""The app's sandbox and worktree upkeep: made from the settings at start, stopped on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from bot.git.clones import Clones
from bot.git.disk import Maintenance
from bot.git.worktrees import worktree_root
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN
from bot.sandbox.policy import Limits, Mode
from bot.sandbox.runner import Sandbox
from bot.settings import Settings
from bot.web.keys import CLONES, SANDBOX, WORKTREES

log = logging.getLogger(__name__)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        time_s=settings.sandbox_timeout_seconds,
        output_bytes=settings.sandbox_output_kb << 10,
        memory_bytes=settings.sandbox_memory_mb << 20,
        pids=settings.sandbox_max_processes,
        cpus=settings.sandbox_cpus,
        file_bytes=settings.sandbox_file_mb << 20,
    )


def detect_sandbox(settings: Settings) -> Sandbox:
    """Blocking: probes bubblewrap and the cgroups once."""
    forbidden = [settings.data_dir, Path.home()]
    if settings.private_key_path:
        forbidden.append(Path(settings.private_key_path))
    return Sandbox.detect(
        mode=Mode(settings.sandbox_mode),
        limits=limits_from(settings),
        toolchain=settings.sandbox_toolchain or DEFAULT_TOOLCHAIN,
        forbidden=forbidden,
        cgroup_dir=Path(settings.sandbox_cgroup) if settings.sandbox_cgroup else None,
    )


def workspaces(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[SANDBOX] = sandbox = await asyncio.to_thread(detect_sandbox, settings)
        log.info("sandbox ready", extra=sandbox.describe())
        clones = Clones(settings.data_dir)
        app[CLONES] = clones
        # The orphan sweep needs each story's owner from the project's state; until that
        # service exists the upkeep measures and caps the root only.
        app[WORKTREES] = upkeep = Maintenance(
            worktree_root(settings.data_dir), int(settings.worktree_cap_gb * 2**30), clones.all
        )
        task = asyncio.create_task(upkeep.forever(settings.worktree_maintenance_seconds))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx
