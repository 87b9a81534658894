"""Anthropic's Messages API through the official SDK, with prompt caching on the stable prefix.

Cache breakpoints (at most 4, Anthropic's limit) go on the last tool definition, the system
prompt, the last stable document (skill text, project documents) and the last message, so
each turn reads from cache everything the previous turn wrote. The prefix is built the same
way every turn, byte for byte.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic

from bot.llm.errors import LLMError, Retryable
from bot.llm.types import Completion, Request, ToolCall, Usage

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: The tool a structured answer is given through (forced), when a response schema is asked.
RESPOND = "respond"
EPHEMERAL = {"type": "ephemeral"}


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def build_params(request: Request, model: str) -> dict[str, Any]:
    """The Messages API body for a request (pure: the tests check it byte for byte)."""
    tools = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
        for t in request.tools
    ]
    if request.response_schema is not None:
        tools.append(
            {
                "name": RESPOND,
                "description": "Give your answer in this shape.",
                "input_schema": dict(request.response_schema),
            }
        )
    if tools:
        tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
    system: list[dict[str, Any]] = [
        {"type": "text", "text": request.system, "cache_control": EPHEMERAL}
    ]
    for index, document in enumerate(request.stable):
        block: dict[str, Any] = {"type": "text", "text": document}
        if index == len(request.stable) - 1:
            block["cache_control"] = EPHEMERAL
        system.append(block)
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "system": system,
        "messages": _messages(request),
    }
    if tools:
        params["tools"] = tools
    if request.response_schema is not None:
        params["tool_choice"] = {"type": "tool", "name": RESPOND}
    # The Messages API this SDK speaks takes no sampling temperature: a request's temperature
    # applies where the provider accepts one (the OpenAI side).
    return params


def _messages(request: Request) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content,
            }
            if (
                messages
                and messages[-1]["role"] == "user"
                and isinstance(messages[-1]["content"], list)
            ):
                messages[-1]["content"].append(block)
            else:
                messages.append({"role": "user", "content": [block]})
            continue
        content: list[dict[str, Any]] = []
        if message.content:
            content.append({"type": "text", "text": message.content})
        for call in message.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": dict(call.arguments),
                }
            )
        messages.append({"role": message.role, "content": content})
    if messages and messages[-1]["content"]:
        last = messages[-1]["content"][-1]
        messages[-1]["content"][-1] = {**last, "cache_control": EPHEMERAL}
    return messages


class AnthropicClient:
    def __init__(
        self, model: str, *, api_key: str | None, base_url: str | None, timeout: float = 600.0
    ) -> None:
        self.spec = f"anthropic:{model}"
        self.model = model
        self._sdk = anthropic.AsyncAnthropic(
            api_key=api_key or "missing", base_url=base_url, max_retries=0, timeout=timeout
        )

    async def complete(self, request: Request) -> Completion:
        async with _calling():
            message = await self._sdk.messages.create(**build_params(request, self.model))
        return _completion(message, self.model)

    async def context_window(self) -> int | None:
        return None  # the Messages API does not say; the table knows Anthropic's models

    async def stream(self, request: Request, on_text: Callable[[str], None]) -> Completion:
        """The same call, its text handed to `on_text` as it arrives (server-sent events)."""
        async with (
            _calling(),
            self._sdk.messages.stream(**build_params(request, self.model)) as events,
        ):
            async for text in events.text_stream:
                on_text(text)
            message = await events.get_final_message()
        return _completion(message, self.model)


@contextlib.asynccontextmanager
async def _calling() -> AsyncIterator[None]:
    """The SDK's errors as ours: what is worth retrying, and what is not."""
    try:
        yield
    except anthropic.APIStatusError as exc:
        if exc.status_code in RETRYABLE_STATUSES:
            raise Retryable(
                str(exc), status=exc.status_code, retry_after=_retry_after(exc.response.headers)
            ) from exc
        raise LLMError(f"Anthropic refused the call ({exc.status_code}): {exc}") from exc
    except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
        raise Retryable(f"{type(exc).__name__}: {exc}") from exc
    except (anthropic.APIResponseValidationError, ValueError) as exc:  # JSON that is not
        raise Retryable(f"a malformed reply: {exc}") from exc


def _completion(message: Any, model: str) -> Completion:
    text, calls, structured = [], [], None
    for block in message.content:
        if block.type == "text":
            text.append(block.text)
        elif block.type == "tool_use":
            if block.name == RESPOND:
                structured = block.input
            else:
                arguments = (
                    block.input
                    if isinstance(block.input, dict)
                    else json.loads(json.dumps(block.input))
                )
                calls.append(ToolCall(block.id, block.name, arguments))
    usage = message.usage
    return Completion(
        text="".join(text),
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
        ),
        model=model,
        stop_reason=message.stop_reason,
        structured=structured,
    )
