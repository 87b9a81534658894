"""The real app in its own process, with a handler whose effects can be counted.

Used by the crash test: `python -m tests.crash_server DATA_DIR PORT EFFECTS_DB`.
The handler's effect is idempotent (keyed by delivery id), as every handler must be;
`calls` records every invocation, so at-least-once redelivery stays visible.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from aiohttp import web
from gidgethub import routing, sansio

from bot.intake.dispatcher import HandlerContext
from bot.logs import configure_logging
from bot.settings import Settings
from bot.web.app import create_app
from tests.support import SECRET


def main() -> None:
    data_dir, port, effects_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    effects = sqlite3.connect(effects_path, isolation_level=None)
    effects.execute("PRAGMA journal_mode = WAL")
    effects.execute("PRAGMA synchronous = FULL")
    effects.execute("CREATE TABLE IF NOT EXISTS effects (delivery_id TEXT PRIMARY KEY)")
    effects.execute("CREATE TABLE IF NOT EXISTS calls (delivery_id TEXT, attempt INTEGER)")
    router = routing.Router()

    @router.register("issue_comment", action="created")
    async def count(event: sansio.Event, *, ctx: HandlerContext) -> None:
        effects.execute("INSERT INTO calls VALUES (?, ?)", (event.delivery_id, ctx.attempt))
        await asyncio.sleep(0.003)  # some work, so a backlog builds up behind intake
        effects.execute("INSERT OR IGNORE INTO effects VALUES (?)", (event.delivery_id,))

    settings = Settings(webhook_secret=SECRET, data_dir=Path(data_dir), port=port)
    configure_logging("WARNING", secrets=[SECRET])
    web.run_app(
        create_app(settings, routers=[router]),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
