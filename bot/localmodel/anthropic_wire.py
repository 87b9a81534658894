"""Local servers that speak the model providers' wire protocols, for the real SDKs (this file:
what they share, and Anthropic's; `openai_server.py`: OpenAI's and the compatible ones').

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
from collections import deque
from typing import Any

from aiohttp import web
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from pydantic import TypeAdapter, ValidationError

from bot.localmodel.scripted import Asked, ScriptedReply, respond, signed

ANTHROPIC_PARAMS = TypeAdapter(MessageCreateParamsNonStreaming)
ANTHROPIC_STREAMING = TypeAdapter(MessageCreateParamsStreaming)
ANTHROPIC_EVENT = TypeAdapter(RawMessageStreamEvent)
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
        self.signature = ""  # below every text it writes, when set (the demo says who wrote it)

    def _model(self, asked: Asked) -> ScriptedReply:
        answer = respond(asked)
        if self.signature:
            answer = signed(answer, self.signature)
        if self.overconfident and answer.structured and "confidence" in answer.structured:
            quoted = {"evidence": asked.last_user[-60:]} if "evidence" in answer.structured else {}
            return ScriptedReply(structured={**answer.structured, "confidence": 1.0, **quoted})
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

    async def messages(self, request: web.Request) -> web.StreamResponse:
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
            return await sse(request, _anthropic_events(message))
        return web.Response(text=message.model_dump_json(), content_type="application/json")

    def _usage(self, body: dict[str, Any], answer: ScriptedReply) -> dict[str, int]:
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


async def sse(
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
        elif block.type == "tool_use":
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


def _anthropic_content(answer: ScriptedReply, forced: str | None) -> list[dict[str, Any]]:
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
