"""A lock with two ways in, for a clone: pushes share it (each updates only its own branch's
tracking ref), a fetch or a worktree change holds it alone (a fetch checks the objects every
worktree's HEAD names and rewrites the tracking refs; a worktree half made fails it).

Fair in the order asked: an exclusive holder waiting for the shared ones to finish keeps
those that ask after it out, so a stream of pushes never starves a fetch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class SharedLock:
    def __init__(self) -> None:
        self._gate = asyncio.Lock()  # held by an exclusive holder, and briefly by each sharer
        self._sharing = 0
        self._none_sharing = asyncio.Event()
        self._none_sharing.set()

    @property
    def sharing(self) -> int:
        return self._sharing

    def locked(self) -> bool:
        return self._gate.locked() or self._sharing > 0

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._gate:  # behind any exclusive holder, or one that asked first
            self._sharing += 1
            self._none_sharing.clear()
        try:
            yield
        finally:
            self._sharing -= 1
            if self._sharing == 0:
                self._none_sharing.set()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._gate:
            await self._none_sharing.wait()  # those already in finish first
            yield
