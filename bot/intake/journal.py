"""The async face of the delivery journal: one writer thread, and group commit.

Every operation is queued to a single thread that owns the SQLite connection. The thread
takes whatever has queued up while the previous commit was being fsynced, runs it all in
one transaction and commits once, so concurrent deliveries share one fsync.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.intake import store
from bot.intake.delivery import Delivery, Incoming

T = TypeVar("T")

_Op = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]
_Result = tuple["asyncio.Future[Any]", Any, "BaseException | None"]
_STOP = object()


class JournalClosed(RuntimeError):
    """The journal was closed, or its writer thread died."""


class Journal:
    """Durable, group-committed storage of deliveries and their outcomes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits = 0
        self._ops = 0

    async def open(self) -> None:
        """Open the database (in the writer thread) and start accepting operations."""
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="journal-writer", daemon=True
        )
        self._thread.start()
        await ready

    async def close(self) -> None:
        """Finish queued operations, then stop the writer thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def group_commit_ratio(self) -> float:
        """Operations per commit so far: above 1 means deliveries shared fsyncs."""
        return self._ops / self._commits if self._commits else 0.0

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `fn` for the writer thread; the future resolves once its commit is durable."""
        if not self.alive or self._loop is None:
            raise JournalClosed(f"journal {self.path} is not open")
        fut: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((fn, fut))
        return fut

    # Typed operations -------------------------------------------------------------------

    def record(self, incoming: Incoming) -> asyncio.Future[int | None]:
        """Journal a delivery durably; resolves to its sequence number, None for a duplicate."""
        return self.run(lambda conn: store.insert(conn, incoming, time.time()))

    def pending(self) -> asyncio.Future[list[Delivery]]:
        return self.run(store.pending)

    def load_payload(self, seq: int) -> asyncio.Future[dict[str, Any] | None]:
        return self.run(lambda conn: store.load_payload(conn, seq))

    def mark_done(self, seq: int, attempts: int) -> asyncio.Future[None]:
        now = time.time()
        return self.run(lambda conn: store.mark_done(conn, seq, attempts, now))

    def mark_retry(
        self, seq: int, attempts: int, error: str, not_before: float
    ) -> asyncio.Future[None]:
        return self.run(lambda conn: store.mark_retry(conn, seq, attempts, error, not_before))

    def mark_dead(self, seq: int, attempts: int, error: str) -> asyncio.Future[None]:
        now = time.time()
        return self.run(lambda conn: store.mark_dead(conn, seq, attempts, error, now))

    def prune_done(self, older_than: float) -> asyncio.Future[int]:
        return self.run(lambda conn: store.prune_done(conn, older_than))

    def stats(self) -> asyncio.Future[dict[str, float | int | None]]:
        return self.run(store.stats)

    def touch(self) -> asyncio.Future[None]:
        now = time.time()
        return self.run(lambda conn: store.touch(conn, now))

    def pragmas(self) -> asyncio.Future[dict[str, str]]:
        return self.run(store.pragmas)

    # Writer thread ----------------------------------------------------------------------

    def _run(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        loop = self._loop
        try:
            conn = store.connect(self.path)
        except (sqlite3.Error, OSError) as exc:
            loop.call_soon_threadsafe(_settle, ready, None, exc)
            return
        loop.call_soon_threadsafe(_settle, ready, None, None)
        try:
            self._serve(conn, loop)
        finally:
            conn.close()

    def _serve(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        stopping = False
        while not stopping:
            batch: list[_Op] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                loop.call_soon_threadsafe(_settle_all, self._commit(conn, batch))

    def _commit(
        self, conn: sqlite3.Connection, batch: list[_Op]
    ) -> list[_Result]:
        results: list[_Result] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(fut, None, exc) for _, fut in batch]
        for fn, fut in batch:
            try:
                results.append((fut, fn(conn), None))
            except Exception as exc:  # noqa: BLE001 - one bad operation must not sink the batch
                results.append((fut, None, exc))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(fut, None, exc) for fut, _, _ in results]
        self._commits += 1
        self._ops += len(batch)
        return results


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


def _settle_all(results: list[_Result]) -> None:
    for fut, value, exc in results:
        _settle(fut, value, exc)
