"""Provider-neutral requests and completions: what agents build and what clients return."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Message:
    role: str  # "user", "assistant" or "tool"
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role "tool": the call this answers


@dataclasses.dataclass(frozen=True)
class Request:
    """One call. `stable` is the prefix that does not change from turn to turn (skill text,
    project documents): it goes first, byte-identical, where a provider can cache it."""

    system: str
    messages: tuple[Message, ...]
    stable: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 4096
    temperature: float | None = None
    response_schema: Mapping[str, Any] | None = None  # structured output wanted


@dataclasses.dataclass(frozen=True)
class Usage:
    input_tokens: int = 0  # not counting cached tokens
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    model: str
    stop_reason: str | None = None
    structured: Any = None  # the parsed object when a response schema was asked for


class LLMClient(Protocol):
    """What every provider's client does: one completion per request, errors classified."""

    spec: str  # "anthropic:claude-…"

    async def complete(self, request: Request) -> Completion: ...

    async def context_window(self) -> int | None:
        """The window the server reports (tokens), where it can tell; else None."""
        ...

    async def stream(self, request: Request, on_text: Callable[[str], None]) -> Completion:
        """The same completion, its text handed to `on_text` as it arrives."""
        ...
