"""The local runner: takes jobs from the queue under its limits and runs each in a worker.

Runs live in worker processes (bot/runs/worker.py), not on the server's event loop: a run
reads and writes files, loads workflows and renders prompts for minutes, and a process keeps
all of that (and any crash or leak) away from the webhook edge; workers run at a lower CPU
priority, so the edge goes first when cores are short. The runner itself only
claims jobs, reads its workers' stdout, heartbeats their leases (one transaction for all)
and records outcomes, every queue statement on the queue's own thread.

At least once: a job whose runner dies keeps its lease until it expires, then any runner
takes it over and its worker goes on from the checkpoint. Workers die with their runner, so
a taken-over run never has two writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import orjson

from bot.runs import steerstore
from bot.runs.follower import Follower
from bot.runs.github_home import GITHUB_TROUBLE, GitHubHome, Home
from bot.runs.jobs import Job, JobSpec, Outcome, job_dir
from bot.runs.queue import JobQueue
from bot.runs.states import OUTCOMES, run_state

log = logging.getLogger(__name__)
WORKER = (sys.executable, "-m", "bot.runs.worker")
#: Never handed to a worker: a run needs model keys, not the App's identity.
_WITHHELD = ("GITHUB_WEBHOOK_SECRET", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH")


@dataclasses.dataclass(frozen=True, slots=True)
class RunnerLimits:
    jobs: int = 3  # at once, across every runner on the queue
    per_repository: int = 1
    lease_s: float = 60.0
    heartbeat_s: float = 15.0
    poll_s: float = 2.0  # how often to look for jobs queued by another process
    max_attempts: int = 3  # runs interrupted this often are failed, not retried
    retry_delay_s: float = 5.0
    retention_s: float = 7 * 86400.0  # finished jobs and their folders are kept this long
    prune_every_s: float = 3600.0


@dataclasses.dataclass
class _Held:
    job: Job
    token: str
    process: asyncio.subprocess.Process | None = None
    progress: str | None = None
    lost: bool = False
    task: asyncio.Task[None] | None = None
    follower: Follower | None = None  # its life on GitHub, for a run started from an issue


class Runner:
    """Schedules jobs onto worker processes; `start`, then `stop` on shutdown."""

    def __init__(
        self,
        queue: JobQueue,
        data_dir: Path,
        limits: RunnerLimits,
        *,
        environ: Mapping[str, str],
        worker: Sequence[str] = WORKER,
        owner: str | None = None,
        github: GitHubHome | None = None,
    ) -> None:
        self.queue = queue
        self.data_dir = data_dir
        self.limits = limits
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
        self._env = {k: v for k, v in environ.items() if k not in _WITHHELD}
        self._worker = tuple(worker)
        self._held: dict[int, _Held] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self.github = github
        #: Told of each run's recorded end (a plan moves on); each hook handles its own errors.
        self.on_finished: list[Callable[[Job, Outcome], Awaitable[None]]] = []

    @property
    def running(self) -> dict[int, str | None]:
        """The jobs this runner holds, with the step each is at."""
        return {job_id: held.progress for job_id, held in self._held.items()}

    async def start(self) -> None:
        self._stopping = False
        self._loops = [
            asyncio.create_task(self._schedule_forever(), name="runner-schedule"),
            asyncio.create_task(self._heartbeat_forever(), name="runner-heartbeat"),
            asyncio.create_task(self._prune_forever(), name="runner-prune"),
        ]
        for task in self._loops:
            task.add_done_callback(_report_death)

    async def stop(self) -> None:
        """Stop the workers; their jobs are queued again and go on from their checkpoints."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for held in self._held.values():
            if held.process is not None and held.process.returncode is None:
                held.process.kill()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def wake(self) -> None:
        """Look for a job to take now (a person queued one again)."""
        self._wake.set()

    async def enqueue(self, spec: JobSpec) -> tuple[Job, bool]:
        """Queue a run (idempotent by `spec.key`) and look for a free slot at once."""
        job, created = await self.queue.enqueue(spec)
        self._wake.set()
        return job, created

    async def _schedule_forever(self) -> None:
        while True:
            try:
                await self._fill()
            except (sqlite3.Error, RuntimeError) as exc:
                log.error("claiming jobs failed", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.limits.poll_s):
                    await self._wake.wait()
            self._wake.clear()

    async def _fill(self) -> None:
        while len(self._held) < self.limits.jobs and not self._stopping:
            job = await self.queue.claim(
                self.owner,
                lease_s=self.limits.lease_s,
                limit=self.limits.jobs,
                per_repository=self.limits.per_repository,
                max_attempts=self.limits.max_attempts,
            )
            if job is None:
                return
            assert job.lease_token is not None
            # Our own lease ran out (heartbeats failed) and we took the job again: the old
            # worker must be gone before the new one starts.
            previous = self._held.get(job.id)
            if previous is not None:
                self._lose(job.id)
            held = self._held[job.id] = _Held(job, job.lease_token)
            task = asyncio.create_task(self._supervise(held, previous), name=f"job {job.id}")
            held.task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.heartbeat_s)
            held = [(i, h.token, h.progress) for i, h in self._held.items() if not h.lost]
            if not held:
                continue
            try:
                lost = await self.queue.heartbeat(held, self.limits.lease_s)
            except (sqlite3.Error, RuntimeError) as exc:
                log.error("heartbeat failed", extra={"error": repr(exc), "jobs": len(held)})
                continue
            for job_id in lost:
                self._lose(job_id)

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune()
            except (sqlite3.Error, RuntimeError, OSError) as exc:
                log.error("pruning finished jobs failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.limits.prune_every_s)

    async def prune(self) -> list[int]:
        """Forget finished jobs past their retention, with their checkpoints and logs."""
        pruned = await self.queue.prune_finished(self.queue.clock() - self.limits.retention_s)
        for job_id in pruned:
            folder = job_dir(self.data_dir, job_id)
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
        if pruned:
            log.info("pruned finished jobs", extra={"count": len(pruned)})
        return pruned

    def _lose(self, job_id: int) -> None:
        """Another runner took this job over (or an operator settled it): stop its worker."""
        held = self._held.get(job_id)
        if held is None:
            return
        held.lost = True
        log.warning("job lease lost", extra={"job": job_id, "owner": self.owner})
        if held.process is not None and held.process.returncode is None:
            held.process.kill()

    async def _supervise(self, held: _Held, previous: _Held | None) -> None:
        job = held.job
        if previous is not None and previous.task is not None:
            await asyncio.gather(previous.task, return_exceptions=True)
        extra = {"job": job.id, "repository": job.repository, "workflow": job.workflow}
        log.info("job started", extra={**extra, "attempt": job.attempts})
        try:
            env = await self._on_github(held)
            if env is None:
                return
            outcome, code = await self._run_worker(held, env)
            if held.lost:
                return
            if outcome is None and self._stopping:
                note = "the server stopped mid-run; the run goes on from its checkpoint"
                await self.queue.retry(job.id, held.token, note, 0.0, counted=False)
                return
            if outcome is None:
                outcome = await self._after_crash(held, code)
                if outcome is None:
                    return
            if held.follower is not None:  # before it is recorded: a retry redoes it, once
                outcome = await held.follower.finish(outcome)
            if not await self.queue.finish(job.id, held.token, outcome):
                log.warning("job outcome not recorded: lease lost", extra=extra)
                return
            log.info(
                "job finished",
                extra={**extra, "state": outcome.state, "error": outcome.error,
                       "steps_run": outcome.steps_run},
            )  # fmt: skip
            for hook in self.on_finished:
                await hook(job, outcome)
        except (sqlite3.Error, RuntimeError, OSError, ValueError) as exc:
            # The lease runs out and the job is taken over; nothing is lost.
            log.error("job supervision failed", extra={**extra, "error": repr(exc)})
        finally:
            if self._held.get(job.id) is held:
                del self._held[job.id]
            self._wake.set()

    async def _on_github(self, held: _Held) -> dict[str, str] | None:
        """For a run started from an issue: its checkout on its branch, made before the
        worker starts (the worker's extra environment); None when GitHub could not be
        reached, and the job is then queued again."""
        job = held.job
        if self.github is None or job.home is None:
            return {}
        held.follower = follower = Follower(self.github, Home.from_json(job.home), job)
        try:
            env = await follower.start()
            await self.queue.transaction(
                lambda conn: steerstore.set_branch(conn, job.id, follower.branch)
            )
            return env
        except GITHUB_TROUBLE as exc:
            log.warning(
                "preparing a run on GitHub failed", extra={"job": job.id, "error": repr(exc)}
            )
            delay = self.limits.retry_delay_s * max(1, job.attempts)
            await self.queue.retry(job.id, held.token, f"GitHub could not be reached: {exc}", delay)
            return None

    async def _run_worker(self, held: _Held, env: Mapping[str, str]) -> tuple[Outcome | None, int]:
        job = held.job
        args = [str(self.queue.path), str(job.id), held.token, str(self.data_dir), str(os.getpid())]
        process = await asyncio.create_subprocess_exec(
            *self._worker,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env={**self._env, **env},
            limit=2**22,
        )
        held.process = process
        try:
            return await self._follow(held, process)
        finally:
            if process.returncode is None:  # we stopped following it: it must not run on
                process.kill()
                await process.wait()

    async def _follow(
        self, held: _Held, process: asyncio.subprocess.Process
    ) -> tuple[Outcome | None, int]:
        await self.queue.set_worker(held.job.id, held.token, process.pid)
        if self._stopping or held.lost:
            process.kill()
        outcome = None
        assert process.stdout is not None
        async for line in process.stdout:
            try:
                record = orjson.loads(line)
                if "event" in record:
                    if record["event"] == "step":
                        progress = f"{record.get('step')}: {record.get('goal') or ''}"
                        held.progress = progress.strip()
                    if held.follower is not None:
                        await held.follower.record(record)
                elif "outcome" in record:
                    outcome = _outcome(record["outcome"])
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
                log.warning("worker wrote a line that is not a record", extra={"line": line[:200]})
        return outcome, await process.wait()

    async def _after_crash(self, held: _Held, code: int) -> Outcome | None:
        """A worker that ended without an outcome: retried while attempts last."""
        job = held.job
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if job.attempts >= self.limits.max_attempts:
            return Outcome(
                "failed",
                f"the run's worker stopped without finishing ({how}) {job.attempts} times;"
                " the server log says why: fix that, then start the workflow again",
            )
        delay = self.limits.retry_delay_s * job.attempts
        log.warning("job worker died", extra={"job": job.id, "how": how, "retry_in_s": delay})
        await self.queue.retry(job.id, held.token, f"worker {how}; retrying", delay)
        return None


def _report_death(task: asyncio.Task[None]) -> None:
    """A runner loop must never end on its own; if one does, say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "runner loop stopped", extra={"task": task.get_name(), "error": repr(task.exception())}
        )


def _outcome(data: dict[str, object]) -> Outcome | None:
    state = run_state(str(data.get("state")))
    if state not in OUTCOMES:
        return None
    error, escalation, steps = data.get("error"), data.get("escalation"), data.get("steps_run")
    return Outcome(
        state,
        error if isinstance(error, str) else None,
        escalation if isinstance(escalation, dict) else None,
        steps if isinstance(steps, int) else 0,
    )
