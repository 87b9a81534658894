"""The async face of the job queue: every statement and fsync on one thread, off the loop.

Job operations are few (a claim, a heartbeat every few seconds for all held jobs in one
transaction, an outcome), so unlike the delivery journal there is no group commit across
callers: each operation is its own short transaction on the queue's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.runs import jobstore, leases
from bot.runs.jobs import Job, JobSpec, Outcome

T = TypeVar("T")


class JobQueue:
    """Durable jobs with leases; open it, use it from one event loop, close it."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="job-queue")
        try:
            self._conn = await self._call(jobstore.connect, self.path)
        except BaseException:
            self._thread.shutdown()
            self._thread = None
            raise

    async def close(self) -> None:
        if self._thread is None:
            return
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._thread.shutdown()
        self._thread = None

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        if self._thread is None:
            raise RuntimeError(f"job queue {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction, committed (fsynced) before this returns."""

        def run() -> T:
            conn = self._conn
            if conn is None:
                raise RuntimeError(f"job queue {self.path} is not open")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._call(run)

    # Typed operations -----------------------------------------------------------------

    async def enqueue(self, spec: JobSpec) -> tuple[Job, bool]:
        now = self.clock()
        return await self.transaction(lambda conn: jobstore.enqueue(conn, spec, now))

    async def claim(
        self, owner: str, *, lease_s: float, limit: int, per_repository: int, max_attempts: int
    ) -> Job | None:
        now = self.clock()
        return await self.transaction(
            lambda conn: leases.claim(
                conn,
                owner,
                now,
                lease_s=lease_s,
                limit=limit,
                per_repository=per_repository,
                max_attempts=max_attempts,
            )
        )

    async def heartbeat(self, held: list[tuple[int, str, str | None]], lease_s: float) -> list[int]:
        now = self.clock()
        return await self.transaction(lambda conn: leases.heartbeat(conn, held, now, lease_s))

    async def set_worker(self, job_id: int, token: str, pid: int) -> None:
        await self.transaction(lambda conn: leases.set_worker(conn, job_id, token, pid))

    async def finish(self, job_id: int, token: str, outcome: Outcome) -> bool:
        now = self.clock()
        return await self.transaction(lambda conn: leases.finish(conn, job_id, token, outcome, now))

    async def retry(
        self, job_id: int, token: str, error: str, delay_s: float, *, counted: bool = True
    ) -> bool:
        at = self.clock() + delay_s
        return await self.transaction(
            lambda conn: leases.retry(conn, job_id, token, error, at, counted=counted)
        )

    async def cancel(self, job_id: int) -> Job:
        now = self.clock()
        return await self.transaction(lambda conn: jobstore.cancel(conn, job_id, now))

    async def answer(self, job_id: int, text: str) -> Job:
        return await self.transaction(lambda conn: jobstore.answer(conn, job_id, text))

    async def find(self, ref: str | int) -> Job | None:
        return await self.transaction(lambda conn: jobstore.find(conn, ref))

    async def listing(self, state: str | None = None, limit: int = 100) -> list[Job]:
        return await self.transaction(lambda conn: jobstore.listing(conn, state, limit))

    async def prune_finished(self, older_than: float) -> list[int]:
        return await self.transaction(lambda conn: jobstore.prune_finished(conn, older_than))

    async def counts(self) -> dict[str, int]:
        return await self.transaction(jobstore.counts)
