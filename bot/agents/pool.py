"""The agent pool: how many agents run at once, in what order, and stopping them.

At most `max_concurrent_agents` per project and a global cap; waiting work is served by
priority (planning before development), then in arrival order. Lifecycle events (started,
finished, failed, cost) go to a listener. Cancelling a run stops its agents at their next
await; what they wrote before that is the engine's to keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
#: Lower runs first.
PRIORITY = {"analysis": 0, "planning": 1, "solutioning": 2, "implementation": 3, "review": 4}


class Cancelled(Exception):
    """The run was paused or stopped while its agent waited or worked."""


@dataclasses.dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    project: str = dataclasses.field(compare=False)
    future: asyncio.Future[None] = dataclasses.field(compare=False)


class AgentPool:
    def __init__(
        self,
        *,
        global_cap: int = 8,
        per_project: int = 3,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.global_cap = global_cap
        self.per_project = per_project
        self.caps: dict[str, int] = {}
        self.in_flight: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.peak_total = 0
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._tasks: dict[str, set[asyncio.Task[Any]]] = defaultdict(set)
        self.on_event = on_event or (lambda _kind, _data: None)

    @property
    def total(self) -> int:
        return sum(self.in_flight.values())

    def set_cap(self, project: str, cap: int) -> None:
        self.caps[project] = cap

    def _fits(self, project: str) -> bool:
        cap = self.caps.get(project, self.per_project)
        return self.total < self.global_cap and self.in_flight[project] < cap

    @contextlib.asynccontextmanager
    async def slot(self, project: str, phase: str = "implementation") -> AsyncIterator[None]:
        if not self._fits(project) or self._waiting:
            waiter = _Waiter(
                PRIORITY.get(phase, 3),
                next(self._seq),
                project,
                asyncio.get_running_loop().create_future(),
            )
            heapq.heappush(self._waiting, waiter)
            self._wake()
            try:
                await waiter.future
            except asyncio.CancelledError:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                    heapq.heapify(self._waiting)
                elif waiter.future.done() and not waiter.future.cancelled():
                    self._release(project)  # granted just as it was cancelled
                raise
        else:
            self._take(project)
        try:
            yield
        finally:
            self._release(project)

    def _take(self, project: str) -> None:
        self.in_flight[project] += 1
        self.peak[project] = max(self.peak[project], self.in_flight[project])
        self.peak_total = max(self.peak_total, self.total)

    def _release(self, project: str) -> None:
        self.in_flight[project] -= 1
        self._wake()

    def _wake(self) -> None:
        """Grant slots to the best waiters that fit, skipping projects at their cap."""
        skipped = []
        while self._waiting and self.total < self.global_cap:
            waiter = heapq.heappop(self._waiting)
            if waiter.future.done():
                continue
            if self._fits(waiter.project):
                self._take(waiter.project)
                waiter.future.set_result(None)
            else:
                skipped.append(waiter)
        for waiter in skipped:
            heapq.heappush(self._waiting, waiter)

    async def run(
        self, run_id: str, project: str, phase: str, agent: str, work: Callable[[], Awaitable[T]]
    ) -> T:
        """Do `work` in a slot, as a task the run can cancel; report its lifecycle."""
        task = asyncio.ensure_future(self._in_slot(project, phase, agent, work))
        self._tasks[run_id].add(task)
        try:
            return await task
        except asyncio.CancelledError as exc:
            raise Cancelled(f"the run {run_id} was stopped") from exc
        finally:
            self._tasks[run_id].discard(task)

    async def _in_slot(
        self, project: str, phase: str, agent: str, work: Callable[[], Awaitable[T]]
    ) -> T:
        async with self.slot(project, phase):
            self.on_event("started", {"project": project, "agent": agent, "phase": phase})
            try:
                result = await work()
            except BaseException as exc:
                self.on_event(
                    "failed",
                    {"project": project, "agent": agent, "error": f"{type(exc).__name__}: {exc}"},
                )
                raise
            self.on_event("finished", {"project": project, "agent": agent})
            return result

    def cancel(self, run_id: str) -> int:
        """Stop every agent of a run now; returns how many were stopped."""
        tasks = [t for t in self._tasks.get(run_id, ()) if not t.done()]
        for task in tasks:
            task.cancel()
        return len(tasks)
