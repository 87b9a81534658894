"""The async face of the delivery journal: group commit, with the fsync off the event loop.

Operations queue up in memory. One writer task runs whatever has queued while the previous
commit was being fsynced, in one transaction, then commits once in a dedicated thread, so
concurrent deliveries share one fsync. Statements run on the event loop itself: each is
short, and keeping them there avoids handing the GIL back and forth with a second thread
for every statement, which costs far more than the statements do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.intake import store
from bot.intake.delivery import Delivery, Incoming
from bot.intake.preflight import JournalUnusable, explain

T = TypeVar("T")
log = logging.getLogger(__name__)

_Op = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


class JournalClosed(RuntimeError):
    """The journal was closed, or its writer stopped."""


class Journal:
    """Durable, group-committed storage of deliveries and their outcomes."""

    def __init__(self, path: Path, done_delay: float = 0.05) -> None:
        self.path = path
        self._done_delay = done_delay
        self._conn: sqlite3.Connection | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._writer: asyncio.Task[None] | None = None
        self._queued: list[_Op] = []
        # The two operations every delivery makes are batched into single statements.
        self._records: list[tuple[Incoming, asyncio.Future[int | None]]] = []
        self._finished: list[tuple[int, int, float, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._commits = 0
        self._ops = 0

    async def open(self) -> None:
        """Open the database and start accepting operations."""
        try:
            self._conn = await asyncio.to_thread(store.connect, self.path)
        except (sqlite3.Error, OSError) as exc:
            raise JournalUnusable(explain(self.path, exc)) from exc
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="journal-commit")
        self._closing = False
        self._writer = asyncio.create_task(self._write_forever(), name="journal-writer")

    async def close(self) -> None:
        """Finish queued operations, then close the database."""
        if self._writer is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):  # a writer that died has logged why
            await self._writer
        self._writer = None
        assert self._committer is not None and self._conn is not None
        self._committer.shutdown()
        self._conn.close()
        self._conn = None

    @property
    def alive(self) -> bool:
        return self._writer is not None and not self._writer.done() and not self._closing

    @property
    def commits(self) -> int:
        return self._commits

    @property
    def group_commit_ratio(self) -> float:
        """Operations per commit so far: above 1 means deliveries shared fsyncs."""
        return self._ops / self._commits if self._commits else 0.0

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `fn`; the future resolves once the commit that includes it is durable."""
        fut: asyncio.Future[T] = self._future()
        self._queued.append((fn, fut))
        return fut

    def _future(self) -> asyncio.Future[Any]:
        """A future for a new operation, waking the writer; refused once the journal closes."""
        if not self.alive:
            raise JournalClosed(f"journal {self.path} is not open")
        self._wake.set()
        return asyncio.get_running_loop().create_future()

    # Typed operations -------------------------------------------------------------------

    def record(self, incoming: Incoming) -> asyncio.Future[int | None]:
        """Journal a delivery durably; resolves to its sequence number, None for a duplicate."""
        fut: asyncio.Future[int | None] = self._future()
        self._records.append((incoming, fut))
        return fut

    def pending(self) -> asyncio.Future[list[Delivery]]:
        return self.run(store.pending)

    def load_body(self, seq: int) -> asyncio.Future[bytes | None]:
        return self.run(lambda conn: store.body(conn, seq))

    def mark_done(self, seq: int, attempts: int) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = self._future()
        self._finished.append((seq, attempts, time.time(), fut))
        return fut

    def mark_retry(
        self, seq: int, attempts: int, error: str, not_before: float
    ) -> asyncio.Future[None]:
        return self.run(lambda conn: store.mark_retry(conn, seq, attempts, error, not_before))

    def mark_dead(self, seq: int, attempts: int, error: str) -> asyncio.Future[None]:
        now = time.time()
        return self.run(lambda conn: store.mark_dead(conn, seq, attempts, error, now))

    async def prune_done(self, older_than: float, chunk: int = 2000) -> int:
        """Forget old `done` deliveries a chunk per commit, so no statement blocks for long."""
        total = 0
        while True:
            pruned = await self.run(lambda conn: store.prune_done(conn, older_than, chunk))
            total += pruned
            if pruned < chunk:
                return total

    def stats(self) -> asyncio.Future[dict[str, float | int | None]]:
        return self.run(store.stats)

    def touch(self) -> asyncio.Future[None]:
        now = time.time()
        return self.run(lambda conn: store.touch(conn, now))

    def pragmas(self) -> asyncio.Future[dict[str, str]]:
        return self.run(store.pragmas)

    # Writer ---------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        try:
            await self._write_batches()
        except Exception:
            log.exception("journal writer stopped", extra={"journal": str(self.path)})
            raise
        finally:
            # However the writer ends, nobody may wait forever on an operation it never ran.
            closed = JournalClosed(f"journal {self.path} stopped")
            waiting = [f for _, f in self._queued] + [f for _, f in self._records]
            for fut in waiting + [f for *_, f in self._finished]:
                _settle(fut, None, closed)
            self._queued, self._records, self._finished = [], [], []

    async def _write_batches(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._conn is not None
        conn = self._conn
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._finished and not (self._records or self._queued or self._closing):
                # Only "done" marks are waiting: they are not urgent (losing one in a crash
                # means a harmless re-dispatch), so give them a moment to share the fsync of
                # the next delivery rather than pay for one of their own.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._done_delay):
                        await self._wake.wait()
                self._wake.clear()
            batch = self._take_batch()
            if batch:
                results = self._execute(conn, batch)
                try:
                    await loop.run_in_executor(self._committer, conn.execute, "COMMIT")
                except BaseException as exc:
                    with contextlib.suppress(sqlite3.Error):  # the connection may be broken too
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                    if not isinstance(exc, sqlite3.Error):
                        # The commit thread is gone, or we were cancelled: stop writing.
                        for fut, _, _ in results:
                            _settle(fut, None, JournalClosed(f"journal stopped: {exc!r}"))
                        raise
                    results = [(fut, None, exc) for fut, _, _ in results]  # the batch fails
                else:
                    self._commits += 1
                    self._ops += sum(len(futs) for _, futs, _ in batch)
                for fut, value, error in results:
                    _settle(fut, value, error)
            if self._closing and not (self._queued or self._records or self._finished):
                return

    def _take_batch(self) -> list[_Step]:
        """Everything queued since the last commit: records, done marks, then the rest."""
        batch: list[_Step] = []
        if self._records:
            records, self._records = self._records, []
            now = time.time()
            incoming = [r for r, _ in records]

            def add(conn: sqlite3.Connection) -> list[int | None]:
                # All or nothing: a row must never be committed without its body.
                conn.execute("SAVEPOINT records")
                try:
                    return store.insert_many(conn, incoming, now)
                except sqlite3.Error:
                    conn.execute("ROLLBACK TO records")
                    raise
                finally:
                    conn.execute("RELEASE records")

            batch.append((add, [f for _, f in records], True))
        if self._finished:
            finished, self._finished = self._finished, []
            rows = [(seq, attempts, at) for seq, attempts, at, _ in finished]
            futs = [fut for *_, fut in finished]
            batch.append((lambda conn: store.mark_done_many(conn, rows), futs, False))
        queued, self._queued = self._queued, []
        batch += [(fn, [fut], False) for fn, fut in queued]
        return batch

    @staticmethod
    def _execute(conn: sqlite3.Connection, batch: list[_Step]) -> list[_Result]:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(fut, None, exc) for _, futs, _ in batch for fut in futs]
        results: list[_Result] = []
        for fn, futs, per_item in batch:
            try:
                value = fn(conn)
            except Exception as exc:  # noqa: BLE001 - one bad operation must not sink the batch
                results += [(fut, None, exc) for fut in futs]
                continue
            if per_item:
                results += [(fut, v, None) for fut, v in zip(futs, value, strict=True)]
            else:
                results += [(fut, value, None) for fut in futs]
        return results


_Result = tuple["asyncio.Future[Any]", Any, "BaseException | None"]
# One unit of a commit: what to run, the futures waiting on it, and whether it returns a
# list with one result per future (batched records) or one result for all of them.
_Step = tuple[Callable[[sqlite3.Connection], Any], list["asyncio.Future[Any]"], bool]


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)
