"""One retry policy for every provider (the SDKs' own retries are off).

Up to 3 retries after the first attempt, waiting 1 s, 2 s, 4 s — or what `retry-after` says —
on 429, 5xx, Anthropic's 529 and timeouts; then `LLMUnavailable`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.llm.errors import LLMUnavailable, Retryable

T = TypeVar("T")
log = logging.getLogger(__name__)
#: The longest `retry-after` honoured; a longer one fails the call at once.
MAX_RETRY_AFTER_S = 60.0


@dataclasses.dataclass(frozen=True)
class ModelRetries:
    retries: int = 3
    base_seconds: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def wait(self, attempt: int, failure: Retryable) -> float:
        if failure.retry_after is not None:
            return failure.retry_after
        return float(self.base_seconds * 2 ** (attempt - 1))

    async def call(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await attempt_once()
            except Retryable as failure:
                wait = self.wait(attempt, failure)
                if attempt > self.retries or wait > MAX_RETRY_AFTER_S:
                    raise LLMUnavailable(
                        f"gave up after {attempt} attempts: {failure}", attempt
                    ) from failure
                log.warning(
                    "model call will be retried",
                    extra={"attempt": attempt, "status": failure.status, "wait_s": wait},
                )
                await self.sleep(wait)
