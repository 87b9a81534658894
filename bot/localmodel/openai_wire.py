"""The OpenAI Chat Completions wire protocol for the real SDK, and servers that behave like
the OpenAI-compatible ones people run (llama-cpp-python, llama.cpp): requests validated with
the SDK's parameter types, answers built as the SDK's response models, the rule-based model
behind them."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter, ValidationError

from bot.localmodel.anthropic_wire import CHUNK, ModelServer, sse, tokens
from bot.localmodel.scripted import Asked

OPENAI_PARAMS = TypeAdapter(CompletionCreateParamsNonStreaming)
OPENAI_STREAMING = TypeAdapter(CompletionCreateParamsStreaming)


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
        self.props_asked = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_get("/props", self.props)
        return app

    async def props(self, request: web.Request) -> web.Response:
        self.props_asked += 1
        if self.n_ctx is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"default_generation_settings": {"n_ctx": self.n_ctx}})

    async def completions(self, request: web.Request) -> web.StreamResponse:
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
            return await sse(request, _openai_chunks(completion), done=True)
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
        if call.type != "function":
            continue
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
                                        "name": call.function.name,
                                        "arguments": call.function.arguments,
                                    },
                                }
                            ]
                        },
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
