"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import sqlite3

from aiohttp import web

from bot.intake.journal import JournalClosed
from bot.web.keys import DISPATCHER, JOURNAL, SANDBOX, WORKTREES

_PROBE_TIMEOUT_S = 5.0


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the journal takes a commit and the dispatcher runs; 503 otherwise."""
    journal = request.app[JOURNAL]
    dispatcher = request.app[DISPATCHER]
    body: dict[str, object] = {"dispatcher_alive": dispatcher.alive}
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            await journal.touch()
            body.update(await journal.stats())
        body["journal_writable"] = True
    except (sqlite3.Error, OSError, JournalClosed, TimeoutError) as exc:
        body["journal_writable"] = False
        body["journal_error"] = f"{type(exc).__name__}: {exc}"
    body["in_flight"] = dispatcher.in_memory
    body["group_commit_ratio"] = round(journal.group_commit_ratio, 2)
    # Which way repository code runs (or that it may not) is shown, never hidden; it does not
    # decide readiness: webhooks, planning and reviews work without it.
    if (sandbox := request.app.get(SANDBOX)) is not None:
        body["sandbox"] = sandbox.describe()
    if (worktrees := request.app.get(WORKTREES)) is not None:
        body["worktrees"] = worktrees.describe()
    ready = bool(body["journal_writable"]) and dispatcher.alive
    body["status"] = "ready" if ready else "not ready"
    return web.json_response(body, status=200 if ready else 503)
