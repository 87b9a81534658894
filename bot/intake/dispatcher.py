"""Hands journaled deliveries to the handlers: at least once, in order per repository.

Each ordering lane (a repository, else an installation) has its own worker task, so a
handler stuck on one repository never holds up another. A failing delivery is retried
with exponential backoff at the head of its lane, then dead-lettered with its last error.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gidgethub import sansio

from bot.intake.delivery import Delivery, Unparseable, parse_payload
from bot.intake.journal import Journal, JournalClosed
from bot.intake.routing import EventRouter

if TYPE_CHECKING:
    from bot.handlers.services import Services

log = logging.getLogger(__name__)
_YIELD_EVERY = 32


@dataclasses.dataclass(frozen=True, slots=True)
class HandlerContext:
    """Passed to every handler as `ctx=`: which delivery and which attempt this is."""

    delivery_id: str
    attempt: int
    repository: str | None
    installation_id: int | None
    services: Services | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure."""
        return float(min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1)))


class Dispatcher:
    """Per-lane workers that feed deliveries to the router and record outcomes."""

    def __init__(
        self,
        journal: Journal,
        router: EventRouter,
        *,
        retry: RetryPolicy,
        handler_timeout: float,
        sweep_interval: float = 5.0,
        payload_cache_per_lane: int = 256,
        clock: Callable[[], float] = time.time,
        services: Services | None = None,
    ) -> None:
        self._services = services
        self._journal = journal
        self._router = router
        self._retry = retry
        self._handler_timeout = handler_timeout
        self._sweep_interval = sweep_interval
        self._cache_limit = payload_cache_per_lane
        self._clock = clock
        self._lanes: dict[str, collections.deque[Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tracked: set[int] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.dispatched = 0

    @property
    def alive(self) -> bool:
        return self._sweeper is not None and not self._sweeper.done()

    @property
    def in_memory(self) -> int:
        return len(self._tracked)

    async def start(self) -> None:
        """Queue every unfinished delivery from the journal, then keep sweeping for more."""
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="dispatcher-sweep")

    async def stop(self) -> None:
        """Cancel the workers; interrupted deliveries stay pending and run after a restart."""
        tasks = [*self._workers.values(), *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        self._lanes.clear()
        self._tracked.clear()
        self._sweeper = None

    def wants(self, event: str, action: str | None, body: bytes) -> bool:
        """Whether any handler runs for this delivery (if not, skip dispatching)."""
        return self._router.handles(event, action, body)

    def skipped(self, delivery: Delivery) -> None:
        """Account for a delivery journaled as done because nothing handles it."""
        self.dispatched += 1
        _log_outcome(delivery, "done", time.perf_counter(), 0, None)

    def submit(self, delivery: Delivery) -> None:
        """Queue a journaled delivery at the end of its lane (a no-op if already queued)."""
        if delivery.seq in self._tracked:
            return
        lane = self._lanes.get(delivery.order_key)
        if lane is None:
            lane = self._lanes[delivery.order_key] = collections.deque()
        if len(lane) >= self._cache_limit and delivery.body is not None:
            delivery = dataclasses.replace(delivery, body=None)  # reread it later
        lane.append(delivery)
        self._tracked.add(delivery.seq)
        if delivery.order_key not in self._workers:
            self._workers[delivery.order_key] = asyncio.create_task(
                self._work(delivery.order_key, lane), name=f"lane {delivery.order_key}"
            )

    async def sweep(self) -> int:
        """Pick up pending deliveries this process is not tracking (a restart, a replay)."""
        found = 0
        for delivery in await self._journal.pending():
            if delivery.seq not in self._tracked:
                self.submit(delivery)
                found += 1
        return found

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("dispatcher sweep failed")

    async def _work(self, key: str, lane: collections.deque[Delivery]) -> None:
        try:
            while lane:
                await self._deliver(lane[0])
                lane.popleft()
                if len(lane) % _YIELD_EVERY == 0:
                    # Deliveries nobody handles finish without awaiting anything; let the
                    # web edge run now and then while a long backlog drains.
                    await asyncio.sleep(0)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if not lane:
                    del self._lanes[key]

    async def _deliver(self, delivery: Delivery) -> None:
        """Run one delivery to `done` or `dead`, retrying in place to keep the lane's order."""
        attempts = delivery.attempts
        body = delivery.body
        wanted = self._router.handles(delivery.event, delivery.action, body)
        wait = delivery.not_before - self._clock()
        while True:
            if wait > 0:
                await asyncio.sleep(wait)
            started = time.perf_counter()
            try:
                # When nothing handles it, it is done without the payload ever being parsed.
                if wanted:
                    if body is None:
                        body = await self._journal.load_body(delivery.seq)
                        if body is None:  # purged by an operator meanwhile
                            self._tracked.discard(delivery.seq)
                            return
                    await self._handle(delivery, parse_payload(body), attempts + 1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any handler failure becomes a retry
                attempts += 1
                error = _describe(exc)
                # A payload that cannot be parsed never will be: dead at once, lane free.
                dead = attempts >= self._retry.max_attempts or isinstance(exc, Unparseable)
                wait = self._retry.delay(attempts)
                try:
                    if dead:
                        await self._journal.mark_dead(delivery.seq, attempts, error)
                    else:
                        await self._journal.mark_retry(
                            delivery.seq, attempts, error, self._clock() + wait
                        )
                except (sqlite3.Error, JournalClosed) as journal_error:
                    # Still pending in the journal: a later sweep (or restart) retries it.
                    self._tracked.discard(delivery.seq)
                    log.error(
                        "could not record a failed delivery",
                        extra={"delivery_id": delivery.delivery_id, "error": repr(journal_error)},
                    )
                    return
                _log_outcome(delivery, "dead" if dead else "retry", started, attempts, error)
                if dead:
                    self._tracked.discard(delivery.seq)
                    return
                continue
            # Not awaited: the lane moves on while the commit happens. The delivery stays
            # tracked until it is durable, so a sweep cannot queue it a second time.
            self._journal.mark_done(delivery.seq, attempts + 1).add_done_callback(
                functools.partial(self._forget, delivery.seq)
            )
            self.dispatched += 1
            _log_outcome(delivery, "done", started, attempts + 1, None)
            return

    async def _handle(self, delivery: Delivery, payload: dict[str, Any], attempt: int) -> None:
        event = sansio.Event(payload, event=delivery.event, delivery_id=delivery.delivery_id)
        ctx = HandlerContext(
            delivery_id=delivery.delivery_id,
            attempt=attempt,
            repository=delivery.repository,
            installation_id=delivery.installation_id,
            services=self._services,
        )
        try:
            async with asyncio.timeout(self._handler_timeout):
                await self._router.dispatch(event, ctx=ctx)
        except TimeoutError as exc:
            raise HandlerTimeout(f"handler ran over {self._handler_timeout:g} s") from exc

    def _forget(self, seq: int, fut: asyncio.Future[None]) -> None:
        self._tracked.discard(seq)
        if not fut.cancelled() and fut.exception() is not None:
            log.error(
                "could not record a finished delivery",
                extra={"seq": seq, "error": repr(fut.exception())},
            )


class HandlerTimeout(Exception):
    """A handler did not finish within the configured time."""


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 2000 else text[:2000] + "…"


def _log_outcome(
    delivery: Delivery, outcome: str, started: float, attempts: int, error: str | None
) -> None:
    level = logging.INFO if outcome == "done" else logging.WARNING
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "delivery %s",
        outcome,
        extra={
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "action": delivery.action,
            "repository": delivery.repository,
            "installation_id": delivery.installation_id,
            "outcome": outcome,
            "attempts": attempts,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "error": error,
        },
    )
