"""Local servers that speak the Anthropic and OpenAI wire protocols, for the real SDKs.

Every request body is validated with the SDK's own parameter types (pydantic over the
SDK's TypedDicts) and every answer is built as the SDK's own response model, so a client that
sends what the API would refuse, or reads what the API would not send, fails here. Behind
them is the rule-based model. The Anthropic server applies Anthropic's prefix-caching rule
(a cache write at each `cache_control` breakpoint; a later request whose prefix up to a
breakpoint is byte-identical reads it) and reports it in `usage`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections import deque
from typing import Any

from aiohttp import web
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter, ValidationError

from tests.llm.rule_model import Answer, Asked, respond

ANTHROPIC_PARAMS = TypeAdapter(MessageCreateParamsNonStreaming)
ANTHROPIC_STREAMING = TypeAdapter(MessageCreateParamsStreaming)
ANTHROPIC_EVENT = TypeAdapter(RawMessageStreamEvent)
OPENAI_PARAMS = TypeAdapter(CompletionCreateParamsNonStreaming)
OPENAI_STREAMING = TypeAdapter(CompletionCreateParamsStreaming)
#: Streamed text arrives in pieces of this many characters.
CHUNK = 16


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ModelServer:
    """What both servers share: faults on demand and a record of requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self.faults: deque[tuple[int, dict[str, str], str]] = deque()
        self._ids = itertools.count(1)
        self.overconfident = False  # like a tiny model: certain of everything, citing anything

    def _model(self, asked: Asked) -> Answer:
        answer = respond(asked)
        if self.overconfident and answer.structured and "confidence" in answer.structured:
            quoted = {"evidence": asked.last_user[-60:]} if "evidence" in answer.structured else {}
            return Answer(structured={**answer.structured, "confidence": 1.0, **quoted})
        return answer

    def fail_next(
        self, status: int, *, retry_after: float | None = None, body: str | None = None
    ) -> None:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        self.faults.append(
            (
                status,
                headers,
                body
                if body is not None
                else json.dumps(
                    {"type": "error", "error": {"type": "api_error", "message": f"fault {status}"}}
                ),
            )
        )

    def _fault(self) -> web.Response | None:
        if not self.faults:
            return None
        status, headers, body = self.faults.popleft()
        return web.Response(
            status=status, headers=headers, text=body, content_type="application/json"
        )


class AnthropicServer(ModelServer):
    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[str, int] = {}  # prefix hash -> its tokens

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
        return app

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        try:
            (ANTHROPIC_STREAMING if body.get("stream") else ANTHROPIC_PARAMS).validate_python(body)
        except ValidationError as exc:
            self.invalid.append(str(exc))
            return _error(400, "invalid_request_error", str(exc)[:500])
        if (fault := self._fault()) is not None:
            return fault
        forced = (body.get("tool_choice") or {}).get("name")
        tools = [t for t in body.get("tools", []) if t["name"] != forced]
        schema = next(
            (t["input_schema"] for t in body.get("tools", []) if t["name"] == forced), None
        )
        asked = Asked(
            _text(body.get("system")),
            _anthropic_messages(body["messages"]),
            [t["name"] for t in tools],
            schema,
        )
        answer = self._model(asked)
        usage = self._usage(body, answer)
        message = AnthropicMessage.model_validate(
            {
                "id": f"msg_{next(self._ids):06d}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": _anthropic_content(answer, forced),
                "stop_reason": "tool_use" if answer.tool or answer.structured else "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )
        if body.get("stream"):
            return await _sse(request, _anthropic_events(message))
        return web.Response(text=message.model_dump_json(), content_type="application/json")

    def _usage(self, body: dict[str, Any], answer: Answer) -> dict[str, int]:
        """Anthropic's rule: a prefix written at a `cache_control` breakpoint is read by a
        later request that repeats it byte for byte (markers aside); the prefix up to the
        last breakpoint is written."""
        segments: list[tuple[str, bool]] = []
        for tool in body.get("tools", []):
            segments.append(_unmarked(tool))
        system = body.get("system")
        for block in system if isinstance(system, list) else [{"text": system or ""}]:
            segments.append(_unmarked(block))
        for message in body["messages"]:
            content = message["content"]
            for block in content if isinstance(content, list) else [{"text": content}]:
                segments.append(_unmarked({"role": message["role"], **block}))
        total = sum(tokens(text) for text, _ in segments)
        digest, running, read, written = hashlib.sha256(), 0, 0, 0
        for text, marked in segments:
            digest.update(text.encode())
            running += tokens(text)
            key = digest.hexdigest()
            if key in self.cache:
                read = running
            if marked:
                written = running
                self.cache.setdefault(key, running)
        written = max(0, written - read)
        output = tokens(answer.text or json.dumps(answer.structured or answer.tool or ""))
        return {
            "input_tokens": total - read - written,
            "output_tokens": output,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }


def _unmarked(block: dict[str, Any]) -> tuple[str, bool]:
    marked = bool(block.get("cache_control"))
    content = {k: v for k, v in block.items() if k != "cache_control"}
    return json.dumps(content, sort_keys=True), marked


class OpenAIServer(ModelServer):
    """OpenAI's Chat Completions. With `formats=LLAMA_CPP_PYTHON` it behaves like
    llama-cpp-python's server (`response_format` `text` or `json_object` only; another is
    answered with HTTP 500 and a validation error); with `tool_calls=False` like a model whose chat
    template has no tools (they are not shown to it); with `n_ctx` it reports its window at
    llama.cpp's `/props`. Like every real server, it cuts a reply at `max_tokens`."""

    def __init__(
        self,
        *,
        formats: tuple[str, ...] = ("text", "json_object", "json_schema"),
        tool_calls: bool = True,
        n_ctx: int | None = None,
    ) -> None:
        super().__init__()
        self.formats, self.tool_calls, self.n_ctx = formats, tool_calls, n_ctx

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_get("/props", self.props)
        return app

    async def props(self, request: web.Request) -> web.Response:
        if self.n_ctx is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"default_generation_settings": {"n_ctx": self.n_ctx}})

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        try:
            (OPENAI_STREAMING if body.get("stream") else OPENAI_PARAMS).validate_python(body)
        except ValidationError as exc:
            self.invalid.append(str(exc))
            return web.json_response(
                {"error": {"message": str(exc)[:500], "type": "invalid_request_error"}}, status=400
            )
        if (fault := self._fault()) is not None:
            return fault
        wanted = (body.get("response_format") or {}).get("type", "text")
        if wanted not in self.formats:
            return web.json_response(_refusal(wanted, self.formats), status=500)
        messages = [(m["role"], m.get("content") or "") for m in body["messages"]]
        system = "\n".join(text for role, text in messages if role == "system")
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        if schema is None and (shown := _SCHEMA_SHOWN.search(system)):
            schema = json.loads(shown.group(1))  # asked for in words: the model reads it
        offered = [t["function"]["name"] for t in body.get("tools", [])]
        asked = Asked(
            system,
            [(r, t) for r, t in messages if r != "system"],
            offered if self.tool_calls else [],
            schema,
        )
        answer = self._model(asked)
        message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
        if answer.structured is not None:
            message["content"] = json.dumps(answer.structured)
        if answer.tool is not None:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": answer.tool[0], "arguments": json.dumps(answer.tool[1])},
                }
            ]
        finish = "tool_calls" if answer.tool else "stop"
        room = body.get("max_tokens") or body.get("max_completion_tokens")
        if room and message["content"] and tokens(message["content"]) > room:
            message["content"], finish = message["content"][: room * 4], "length"
        prompt = sum(tokens(text) for _, text in messages)
        completion = ChatCompletion.model_validate(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": tokens(str(message)),
                    "total_tokens": prompt + tokens(str(message)),
                    "prompt_tokens_details": {"cached_tokens": 0},
                },
            }
        )
        if body.get("stream"):
            return await _sse(request, _openai_chunks(completion), done=True)
        return web.Response(text=completion.model_dump_json(), content_type="application/json")


_SCHEMA_SHOWN = re.compile(r"<schema>\n(.*?)\n</schema>", re.DOTALL)
#: The `response_format` types llama-cpp-python's server accepts.
LLAMA_CPP_PYTHON = ("text", "json_object")


def _refusal(wanted: str, formats: tuple[str, ...]) -> dict[str, Any]:
    """What llama-cpp-python's server answers to a `response_format` it does not take."""
    allowed = " or ".join(repr(f) for f in formats)
    return {
        "error": {
            "message": "1 validation error for CreateChatCompletionRequest\n"
            f"response_format.type\n  Input should be {allowed} [type=literal_error, "
            f"input_value={wanted!r}, input_type=str]",
            "type": "internal_server_error",
        }
    }


async def _sse(
    request: web.Request, events: list[tuple[str | None, str]], done: bool = False
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for name, data in events:
        prefix = f"event: {name}\n" if name else ""
        await response.write(f"{prefix}data: {data}\n\n".encode())
    if done:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _anthropic_events(message: AnthropicMessage) -> list[tuple[str | None, str]]:
    """The Messages API's event stream for a message, each event an SDK model."""
    usage = message.usage.model_dump()
    start = message.model_dump() | {
        "content": [],
        "stop_reason": None,
        "usage": usage | {"output_tokens": 1},
    }
    raw: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.content):
        if block.type == "text":
            raw.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            for at in range(0, len(block.text), CHUNK):
                raw.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": block.text[at : at + CHUNK]},
                    }
                )
        else:
            raw.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block.id,
                        "name": block.name,
                        "input": {},
                    },
                }
            )
            raw.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(block.input)},
                }
            )
        raw.append({"type": "content_block_stop", "index": index})
    raw.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    raw.append({"type": "message_stop"})
    return [
        (event["type"], ANTHROPIC_EVENT.validate_python(event).model_dump_json()) for event in raw
    ]


def _openai_chunks(completion: ChatCompletion) -> list[tuple[str | None, str]]:
    choice = completion.choices[0]
    base = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model,
    }
    raw: list[dict[str, Any]] = [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
    ]
    content = choice.message.content or ""
    for at in range(0, len(content), CHUNK):
        raw.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": content[at : at + CHUNK]},
                        "finish_reason": None,
                    }
                ],
            }
        )
    for index, call in enumerate(choice.message.tool_calls or []):
        raw.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call.id,
                                    "type": "function",
                                    "function": {
                                        "name": call.function.name,  # type: ignore[union-attr]
                                        "arguments": call.function.arguments,
                                    },
                                }
                            ]
                        },  # type: ignore[union-attr]
                        "finish_reason": None,
                    }
                ],
            }
        )
    raw.append(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.finish_reason}]}
    )
    raw.append(
        {
            **base,
            "choices": [],
            "usage": completion.usage.model_dump() if completion.usage else None,
        }
    )
    return [(None, ChatCompletionChunk.model_validate(chunk).model_dump_json()) for chunk in raw]


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status
    )


def _text(system: Any) -> str:
    if isinstance(system, list):
        return "\n\n".join(block.get("text", "") for block in system)
    return system or ""


def _anthropic_messages(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            found.append((message["role"], content))
            continue
        for block in content:
            if block["type"] == "text":
                found.append((message["role"], block["text"]))
            elif block["type"] == "tool_result":
                found.append(("tool", str(block.get("content", ""))))
            elif block["type"] == "tool_use":
                found.append(
                    ("assistant", f"(called {block['name']} {json.dumps(block['input'])})")
                )
    return found


def _anthropic_content(answer: Answer, forced: str | None) -> list[dict[str, Any]]:
    if answer.structured is not None and forced:
        return [
            {
                "type": "tool_use",
                "id": "toolu_respond",
                "name": forced,
                "input": dict(answer.structured),
            }
        ]
    if answer.tool is not None:
        return [
            {
                "type": "tool_use",
                "id": f"toolu_{abs(hash(str(answer.tool))) % 10**8}",
                "name": answer.tool[0],
                "input": dict(answer.tool[1]),
            }
        ]
    return [{"type": "text", "text": answer.text}]
