"""The aiohttp application: routes, and the journal and dispatcher it owns for its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

import aiohttp
import simdjson
from aiohttp import web
from gidgethub import routing

from bot.commands.builtin import default_registry
from bot.commands.registry import CommandRegistry
from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients, WritePacing
from bot.handlers import default_routers
from bot.handlers.services import Services
from bot.intake.dispatcher import Dispatcher, RetryPolicy
from bot.intake.journal import Journal, JournalClosed
from bot.intake.routing import EventRouter
from bot.project.board_sync import BoardSync
from bot.project.commands import PlanCommands
from bot.project.plan import Planner
from bot.project.retrospectives import Retrospectives
from bot.project.story_labels import LabelSteering
from bot.runs.commands import Starter
from bot.runs.github_home import GitHubHome
from bot.runs.runner import Runner
from bot.runs.service import RUNNER, runs
from bot.runs.steering import Steering
from bot.settings import Settings
from bot.web.client_faults import quiet_client_faults
from bot.web.health import healthz, readyz
from bot.web.keys import (
    DISPATCHER,
    GITHUB,
    GITHUB_HOME,
    JOURNAL,
    JSON_PARSER,
    PLANNER,
    RUN_STEERING,
    SANDBOX,
    SETTINGS,
    SPRINTS,
    STEERING,
    UNVERIFIED,
)
from bot.web.unverified import Unverified
from bot.web.webhooks import MAX_BODY_BYTES, receive_webhook
from bot.web.workspaces import workspaces

log = logging.getLogger(__name__)

#: How often finished deliveries older than the retention period are pruned.
PRUNE_INTERVAL_S = 3600.0


def create_app(
    settings: Settings,
    routers: Sequence[routing.Router] | None = None,
    credentials: AppCredentials | None = None,
    environ: Mapping[str, str] | None = None,
) -> web.Application:
    """Build the app; `routers` replaces the product's handlers (tests inject their own).

    `credentials` are the App's, already loaded from `settings` by the caller, if any;
    `environ` is what the run workers read their models' keys from (default: the server's).
    """
    if not settings.webhook_secret:
        raise ValueError("a webhook secret is required to serve webhooks")
    # Leave room above GitHub's limit so an oversized body is answered 413 by our handler.
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    quiet_client_faults()
    app[SETTINGS] = settings
    app[JSON_PARSER] = simdjson.Parser()
    app[UNVERIFIED] = Unverified()
    router = EventRouter(*(default_routers() if routers is None else routers))
    if credentials is None and settings.has_app_identity:
        credentials = AppCredentials.load(
            settings.app_id, settings.private_key, settings.private_key_path
        )
    if credentials is not None:
        app.cleanup_ctx.append(_github(settings, credentials))
    app.cleanup_ctx.append(workspaces(settings))
    # Runs before intake: a delivery handled at start-up may start a run.
    app.cleanup_ctx.append(runs(settings, environ, github=_github_home(settings)))
    app.cleanup_ctx.append(
        _intake(settings, router, dict(os.environ if environ is None else environ))
    )
    app.router.add_post(settings.webhook_path, receive_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def _github(
    settings: Settings, credentials: AppCredentials
) -> Callable[[web.Application], AsyncIterator[None]]:
    """One aiohttp session for every GitHub call, closed on shutdown."""

    async def github(app: web.Application) -> AsyncIterator[None]:
        pacing = WritePacing(
            settings.write_interval_seconds,
            per_minute=settings.writes_per_minute,
            journal=settings.pacing_path,  # the minute's writes survive a restart
        )
        try:
            async with aiohttp.ClientSession() as session:
                app[GITHUB] = GitHubClients(
                    session,
                    api_url=settings.github_api_url,
                    credentials=credentials,
                    pacing=pacing,
                )
                yield
        finally:
            pacing.close()

    return github


def _github_home(settings: Settings) -> Callable[[web.Application], GitHubHome | None]:
    """The GitHub side of runs from issues, when the server has the App's identity."""

    def make(app: web.Application) -> GitHubHome | None:
        clients = app.get(GITHUB)
        if clients is None or not settings.app_id:
            return None
        app[GITHUB_HOME] = home = GitHubHome(clients, settings.data_dir, int(settings.app_id))
        return home

    return make


def _commands(
    app: web.Application, settings: Settings, environ: Mapping[str, str]
) -> CommandRegistry:
    """The `/ao` commands: help and ping everywhere; start, status, plans and steering where
    runs can be (the planner is made here too, and told of every run's end)."""
    registry = default_registry()
    home = app.get(GITHUB_HOME)
    if home is not None:

        def runner() -> Runner | None:  # the runner starts with the server
            return app.get(RUNNER)

        starter = Starter(home, runner, settings.data_dir, settings.default_model)
        planner = Planner(home, runner, starter.default_branch, settings.data_dir,
                          settings.default_model)  # fmt: skip
        starter.plans = planner
        app[PLANNER] = planner
        if (running := runner()) is not None:
            running.on_finished.append(planner.on_finished)
        starter.add_to(registry)
        PlanCommands(planner).add_to(registry)
        app[RUN_STEERING] = run_steering = Steering(home, runner)
        run_steering.add_to(registry)
        app[STEERING] = steering = LabelSteering(BoardSync(home, settings.data_dir,
            per_pass=settings.story_issues_per_pass,
            pass_every_s=settings.story_issues_pass_seconds))  # fmt: skip
        sandbox = app.get(SANDBOX)
        if sandbox is not None and settings.default_model:  # stories run in this process
            # Imported here: the models' SDKs load only in a server that runs stories.
            from bot.stories.compose import means_from
            from bot.stories.sprints import Sprints

            means = means_from(settings.default_model, environ, sandbox)
            retros = Retrospectives(home, runner, starter.default_branch, settings.data_dir,
                                    settings.default_model)  # fmt: skip
            app[SPRINTS] = sprints = Sprints(steering.board, means, retrospectives=retros)
            run_steering.story_retry = sprints.retry
            if running is not None:  # an epic's retrospective that ends is recorded
                running.on_finished.append(sprints.run_finished)
    return registry


def _intake(
    settings: Settings, router: EventRouter, environ: Mapping[str, str]
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def intake(app: web.Application) -> AsyncIterator[None]:
        journal = Journal(settings.journal_path)
        await journal.open()
        dispatcher = Dispatcher(
            journal,
            router,
            retry=RetryPolicy(
                settings.max_attempts, settings.retry_base_seconds, settings.retry_max_seconds
            ),
            handler_timeout=settings.handler_timeout_seconds,
            services=Services(
                github=app.get(GITHUB),
                app_id=int(settings.app_id) if settings.app_id else None,
                commands=_commands(app, settings, environ),
                planner=app.get(PLANNER),
                steering=app.get(STEERING),
                run_steering=app.get(RUN_STEERING),
                sprints=app.get(SPRINTS),
            ),
        )
        app[JOURNAL] = journal
        app[DISPATCHER] = dispatcher
        await dispatcher.start()
        pruner = asyncio.create_task(_prune_forever(journal, settings.done_retention_days))
        planner = app.get(PLANNER)
        reconciling = None if planner is None else asyncio.create_task(planner.reconcile())
        board = steering.board if (steering := app.get(STEERING)) else None
        boards = None if board is None else asyncio.create_task(board.reconcile())
        log.info(
            "intake started",
            extra={"journal": str(journal.path), "pragmas": await journal.pragmas()},
        )
        try:
            yield
        finally:
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner
            if reconciling is not None:
                reconciling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reconciling
            if board is not None and boards is not None:
                boards.cancel()
                await board.close()
            if (sprints := app.get(SPRINTS)) is not None:
                await sprints.close()
            await dispatcher.stop()
            await journal.close()
            log.info(
                "intake stopped",
                extra={
                    "dispatched": dispatcher.dispatched,
                    "journal_commits": journal.commits,
                    "operations_per_commit": round(journal.group_commit_ratio, 2),
                    "rss_mb": _rss_mb(),
                    "peak_rss_mb": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                    ),
                },
            )

    return intake


def _rss_mb() -> float | None:
    """Resident memory now (Linux), for the shutdown record."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


async def _prune_forever(journal: Journal, retention_days: float) -> None:
    while True:
        try:
            pruned = await journal.prune_done(time.time() - retention_days * 86400)
        except (sqlite3.Error, JournalClosed) as exc:
            log.error("pruning finished deliveries failed", extra={"error": repr(exc)})
        else:
            if pruned:
                log.info("pruned finished deliveries", extra={"count": pruned})
        await asyncio.sleep(PRUNE_INTERVAL_S)
