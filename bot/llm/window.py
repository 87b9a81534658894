"""Keeping a conversation inside the model's context window.

When a request nears the window, the oldest tool results are cut down to a short note
(oldest first, the newest kept whole) instead of letting the call fail: a tool loop reads
many files, and old reads matter least. The stable prefix and the instructions are never cut.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from bot.llm.budget import estimated_input_tokens
from bot.llm.errors import LLMError
from bot.llm.types import Request

#: Context windows in tokens by model family; unknown models get the smallest common one.
WINDOWS = {"claude": 200_000, "gpt-4.1": 1_000_000, "gpt-4o": 128_000}
DEFAULT_WINDOW = 128_000
#: Start trimming at this share of the window, leaving room for the answer.
HEADROOM = 0.8
KEEP_NEWEST = 2


def window_for(model: str) -> int:
    return next(
        (size for prefix, size in WINDOWS.items() if model.startswith(prefix)), DEFAULT_WINDOW
    )


def operator_window(spec: str, environ: Mapping[str, str]) -> int | None:
    """The window the operator set for a model: ORCHESTRATOR_CONTEXT_WINDOWS is a comma list
    of `SPEC=TOKENS`, or one number for every model without its own (a local server's window
    is whatever it was started with, which no table can know)."""
    raw = environ.get("ORCHESTRATOR_CONTEXT_WINDOWS", "").strip()
    every: int | None = None
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        name, sep, value = item.rpartition("=")
        try:
            tokens = int(value)
        except ValueError:
            tokens = 0
        if tokens <= 0:
            raise LLMError(f"ORCHESTRATOR_CONTEXT_WINDOWS: {item!r} is not SPEC=TOKENS or TOKENS")
        if not sep:
            every = tokens
        elif name.strip() == spec:
            return tokens
    return every


def fit(request: Request, window: int) -> Request:
    """The request, with old tool results trimmed until it fits in `HEADROOM` of the window."""
    limit = int(window * HEADROOM) - request.max_tokens
    if estimated_input_tokens(request) <= limit:
        return request
    messages = list(request.messages)
    tool_indexes = [i for i, m in enumerate(messages) if m.role == "tool"][: -KEEP_NEWEST or None]
    for index in tool_indexes:
        old = messages[index]
        messages[index] = dataclasses.replace(
            old,
            content=f"[tool result trimmed to fit the context window: {len(old.content)} "
            "characters; read it again if it is needed]",
        )
        trimmed = dataclasses.replace(request, messages=tuple(messages))
        if estimated_input_tokens(trimmed) <= limit:
            return trimmed
    return dataclasses.replace(request, messages=tuple(messages))
