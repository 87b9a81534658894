"""The runner on the app's lifetime: the job queue opened and the runner started with the
server, both stopped (workers stopped, their jobs queued again) on shutdown."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import web

from bot.runs.github_home import GitHubHome
from bot.runs.queue import JobQueue
from bot.runs.runner import Runner, RunnerLimits
from bot.settings import Settings

log = logging.getLogger(__name__)

JOBS = web.AppKey("jobs", JobQueue)
RUNNER = web.AppKey("runner", Runner)


def limits_from(settings: Settings) -> RunnerLimits:
    lease = settings.job_lease_seconds
    return RunnerLimits(
        jobs=settings.runner_jobs,
        per_repository=settings.runner_jobs_per_repository,
        lease_s=lease,
        heartbeat_s=lease / 4,  # three heartbeats may be lost before the lease is
        poll_s=min(2.0, lease / 4),
        retention_s=settings.done_retention_days * 86400,
    )


def runs(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    github: Callable[[web.Application], GitHubHome | None] = lambda _app: None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx for `app.cleanup_ctx`; `environ` (default: the server's, read now) is
    what the workers' models read their keys from; `github` gives the GitHub side of runs
    started from issues, once the App's clients exist."""
    worker_env = dict(os.environ if environ is None else environ)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        queue = JobQueue(settings.jobs_path)
        await queue.open()
        runner = Runner(
            queue,
            settings.data_dir,
            limits_from(settings),
            environ=worker_env,
            github=github(app),
        )
        app[JOBS], app[RUNNER] = queue, runner
        await runner.start()
        log.info(
            "runner started",
            extra={"queue": str(queue.path), "owner": runner.owner, "jobs": await queue.counts()},
        )
        try:
            yield
        finally:
            await runner.stop()
            await queue.close()
            log.info("runner stopped", extra={"owner": runner.owner})

    return ctx
