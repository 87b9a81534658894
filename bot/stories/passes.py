"""Passes per repository, as the sprint reconciler runs them: one at a time, a burst of asks
is one pass, a failed pass is tried again `again_s` later, and the work a pass starts (a
story's delivery, its pull request followed) runs as tasks that a shutdown cancels."""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from bot.agents.config import ConfigError
from bot.git.remote import GitFailed
from bot.project.sprint_status import SprintStatusError
from bot.project.state_commit import StateNotCommitted
from bot.project.status_publish import TROUBLE

log = logging.getLogger(__name__)
#: What a pass or a story's step may fail with: the next event, pass or restart retries.
FAILED = (*TROUBLE, GitFailed, OSError, SprintStatusError, StateNotCommitted, ConfigError)


@dataclasses.dataclass
class Repo:
    """One repository's passes: one at a time, a burst of asks is one pass."""

    installation_id: int
    data: dict[str, Any]
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    waiting: bool = False
    again: asyncio.Task[None] | None = None
    work: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)  # story key
    #: stories whose work ended since the pass under way began: what it read of them is old
    #: (a delivery that ended meanwhile has moved its story on), so it leaves them to the pass
    #: their end asked for
    ended: set[str] = dataclasses.field(default_factory=set)


R = TypeVar("R", bound=Repo)


class Passes(abc.ABC, Generic[R]):
    """Every repository's passes, for one server; `reconcile` is the pass itself."""

    def __init__(self, again_s: float) -> None:
        self.again_s = again_s
        self._repos: dict[str, R] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @abc.abstractmethod
    def _new(self, installation_id: int, data: dict[str, Any]) -> R:
        """The state kept for a repository, made when it is first woken."""

    @abc.abstractmethod
    async def reconcile(self, repo: R) -> None:
        """One pass over the repository."""

    def _repo(self, installation_id: int, data: dict[str, Any]) -> R:
        name = str(data["full_name"])
        repo = self._repos.get(name)
        if repo is None or repo.installation_id != installation_id:
            repo = self._repos[name] = self._new(installation_id, dict(data))
        return repo

    def wake(self, installation_id: int, data: dict[str, Any]) -> None:
        """A pass soon for the repository, off the webhook's path."""
        repo = self._repo(installation_id, data)
        if not repo.waiting:
            repo.waiting = True
            self._spawn(self._pass_logged(repo))

    async def idle(self) -> None:
        """Until no pass and no story's work is under way (for tests and shutdown)."""
        while busy := [t for t in self._tasks if t is not asyncio.current_task()]:
            await asyncio.gather(*busy, return_exceptions=True)

    async def close(self) -> None:
        for task in [*self._tasks, *(r.again for r in self._repos.values() if r.again)]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pass_logged(self, repo: R, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        try:
            await self.reconcile(repo)
        except FAILED as exc:  # the next event, the next pass or the restart retries
            extra = {"repository": repo.data["full_name"], "error": repr(exc)}
            log.warning("a sprint pass failed", extra=extra)
            self._again(repo)

    def _again(self, repo: R) -> None:
        if repo.again is None or repo.again.done():
            repo.again = asyncio.create_task(self._pass_logged(repo, self.again_s))

    def _work(self, repo: R, key: str, work: Coroutine[Any, Any, None]) -> None:
        """Story `key`'s work as a task, one at a time per story (`repo.work`)."""

        async def logged() -> None:
            try:
                await work
            except FAILED as exc:
                log.warning("a story's step failed",
                            extra={"repository": repo.data["full_name"], "story": key,
                                   "error": repr(exc)})  # fmt: skip
                self._again(repo)

        def forget(task: asyncio.Task[None]) -> None:  # also when cancelled before it began
            if repo.work.get(key) is task:
                del repo.work[key]
                repo.ended.add(key)

        task = self._spawn(logged())
        task.add_done_callback(forget)
        repo.work[key] = task
