"""OpenAI's Chat Completions through the official SDK; with a base URL, any compatible
server (vLLM, Ollama, llama.cpp, …).

A server that answers a structured request with an error status is asked again in the next
weaker mode (`json_schema`, then `json_object`, then JSON asked for in the prompt); only when
the weakest fails too is the failure the call's. The mode that worked is kept for the client's
life (a run), so later calls go straight to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import openai

from bot.llm import structured as shapes
from bot.llm.discovery import server_window
from bot.llm.errors import LLMError, Retryable
from bot.llm.types import Completion, Request, ToolCall, Usage

log = logging.getLogger(__name__)
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def build_params(request: Request, model: str, mode: shapes.Mode = "json_schema") -> dict[str, Any]:
    system = "\n\n".join([request.system, *request.stable])  # stable prefix first: cacheable
    if request.response_schema is not None and mode != "json_schema":
        system = f"{system}\n\n{shapes.instructions(request.response_schema)}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for message in request.messages:
        if message.role == "tool":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id or "",
                    "content": message.content,
                }
            )
            continue
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
                }
                for c in message.tool_calls
            ]
        messages.append(entry)
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens,
    }
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.input_schema),
                },
            }
            for t in request.tools
        ]
    if request.response_schema is not None:
        wanted = shapes.response_format(mode, request.response_schema)
        if wanted is not None:
            params["response_format"] = wanted
    if request.temperature is not None:
        params["temperature"] = request.temperature
    return params


class OpenAIClient:
    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None,
        provider: str = "openai",
        timeout: float = 600.0,
    ) -> None:
        self.spec = f"{provider}:{model}"
        self.model = model
        self.structured: shapes.Mode = "json_schema"  # the strongest mode the server took
        self.provider = provider
        self._sdk = openai.AsyncOpenAI(
            api_key=api_key or "missing", base_url=base_url, max_retries=0, timeout=timeout
        )

    async def context_window(self) -> int | None:
        """What a compatible server says of its window: llama.cpp's `/props` (`n_ctx`, the
        window it was started with), else `/v1/models` (vLLM's `max_model_len`, llama.cpp's
        `meta.n_ctx_train`). OpenAI's own API says nothing; the table knows its models."""
        if self.provider != "openai-compatible":
            return None
        return await server_window(self._sdk, self.model)

    async def complete(self, request: Request) -> Completion:
        async def once(params: dict[str, Any]) -> Completion:
            reply = await self._sdk.chat.completions.create(**params)
            choice = reply.choices[0]
            calls = [
                (c.id, c.function.name, c.function.arguments)
                for c in choice.message.tool_calls or []
            ]
            return self._completion(
                request, choice.message.content or "", calls, reply.usage, choice.finish_reason
            )

        return await self._degrading(request, once)

    async def stream(self, request: Request, on_text: Callable[[str], None]) -> Completion:
        """The same call as server-sent chunks; text handed to `on_text` as it arrives."""

        async def once(params: dict[str, Any]) -> Completion:
            text: list[str] = []
            calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
            usage, finish = None, None
            chunks = await self._sdk.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in chunks:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    if choice.delta.content:
                        text.append(choice.delta.content)
                        on_text(choice.delta.content)
                    for delta in choice.delta.tool_calls or []:
                        entry = calls.setdefault(delta.index, ["", "", ""])
                        entry[0] = delta.id or entry[0]
                        if delta.function is not None:
                            entry[1] = delta.function.name or entry[1]
                            entry[2] += delta.function.arguments or ""
            found = [(i, n, a) for i, n, a in (calls[k] for k in sorted(calls))]
            return self._completion(request, "".join(text), found, usage, finish)

        return await self._degrading(request, once)

    async def _degrading(
        self, request: Request, once: Callable[[dict[str, Any]], Awaitable[Completion]]
    ) -> Completion:
        """One call; a structured one that the server answers with an error status is made
        again in the next weaker mode, and the mode that worked is remembered. Decided by
        what happened (the server refused, a weaker request went through), never by the
        wording of an error."""
        async with _calling():
            if request.response_schema is None:
                return await once(build_params(request, self.model))
            mode = self.structured
            while True:
                try:
                    completion = await once(build_params(request, self.model, mode))
                except openai.APIStatusError:
                    weaker = shapes.FALLBACK.get(mode)
                    if weaker is None:
                        raise  # the weakest form failed too: that is the call's failure
                    log.warning(
                        "structured output refused; asking again in a weaker mode",
                        extra={"model": self.spec, "mode": mode, "next": weaker},
                    )
                    mode = weaker
                    continue
                self.structured = mode
                return completion

    def _completion(
        self,
        request: Request,
        text: str,
        calls: Sequence[tuple[str, str, str | None]],
        usage: Any,
        finish: str | None,
    ) -> Completion:
        tool_calls = []
        for call_id, name, raw in calls:
            try:
                arguments = json.loads(raw or "{}")
            except ValueError:
                arguments = {"_unparsed": raw}
            tool_calls.append(ToolCall(call_id, name, arguments))
        structured = shapes.parse(text) if request.response_schema is not None else None
        cached = 0
        if usage is not None and usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        prompt = usage.prompt_tokens if usage else 0
        return Completion(
            text=text,
            tool_calls=tuple(tool_calls),
            usage=Usage(prompt - cached, usage.completion_tokens if usage else 0, cached, 0),
            model=self.model,
            stop_reason=finish,
            structured=structured,
        )


@contextlib.asynccontextmanager
async def _calling() -> AsyncIterator[None]:
    try:
        yield
    except openai.APIStatusError as exc:
        if exc.status_code in RETRYABLE_STATUSES:
            after = exc.response.headers.get("retry-after")
            raise Retryable(
                str(exc), status=exc.status_code, retry_after=float(after) if after else None
            ) from exc
        raise LLMError(f"the model server refused the call ({exc.status_code}): {exc}") from exc
    except (openai.APITimeoutError, openai.APIConnectionError) as exc:
        raise Retryable(f"{type(exc).__name__}: {exc}") from exc
    except (openai.APIResponseValidationError, ValueError) as exc:
        raise Retryable(f"a malformed reply: {exc}") from exc
