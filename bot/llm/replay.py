"""`replay:FILE`: a model client that answers from recorded exchanges, in order.

JSON lines, one exchange each: `{"request": {…}, "completion": {…}}` — the same shape of file
as the engine's task replays (`{"task": …, "reply": …}`), one level down. A request that
differs from the recorded one fails loudly with a unified diff; `RecordingClient` writes
such files from any client.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.llm.errors import LLMError
from bot.llm.types import Completion, LLMClient, Request, ToolCall, Usage


class RequestMismatch(LLMError):
    """The run asked the model something the recording does not have."""


def request_json(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(request), default=str))
    return data


def completion_from(data: dict[str, Any]) -> Completion:
    return Completion(
        text=data.get("text", ""),
        tool_calls=tuple(
            ToolCall(c["id"], c["name"], c["arguments"]) for c in data.get("tool_calls", [])
        ),
        usage=Usage(**data.get("usage", {})),
        model=data.get("model", ""),
        stop_reason=data.get("stop_reason"),
        structured=data.get("structured"),
    )


class ReplayClient:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._exchanges = [
            json.loads(line) for line in path.read_text().splitlines() if line.strip()
        ]
        # Priced as the model it was recorded from: a replay is never counted as free.
        self.spec = str(self._exchanges[0].get("spec", "")) if self._exchanges else ""
        self._next = 0

    async def complete(self, request: Request) -> Completion:
        if self._next >= len(self._exchanges):
            raise RequestMismatch(
                f"{self.path}: all {len(self._exchanges)} recorded exchanges "
                "are used and the run asks for another"
            )
        recorded = self._exchanges[self._next]
        asked = request_json(request)
        if recorded["request"] != asked:
            diff = "\n".join(
                difflib.unified_diff(
                    json.dumps(recorded["request"], indent=1, sort_keys=True).splitlines(),
                    json.dumps(asked, indent=1, sort_keys=True).splitlines(),
                    "recorded",
                    "asked",
                    lineterm="",
                )
            )
            raise RequestMismatch(f"{self.path}: exchange {self._next + 1} differs:\n{diff}")
        self._next += 1
        return completion_from(recorded["completion"])

    async def context_window(self) -> int | None:
        return None  # a recording calls no server

    async def stream(self, request: Request, on_text: Callable[[str], None]) -> Completion:
        completion = await self.complete(request)
        on_text(completion.text)
        return completion


class RecordingClient:
    def __init__(self, client: LLMClient, path: Path) -> None:
        self.spec = client.spec
        self._client = client
        self.path = path

    async def complete(self, request: Request) -> Completion:
        return self._record(request, await self._client.complete(request))

    async def context_window(self) -> int | None:
        return await self._client.context_window()

    async def stream(self, request: Request, on_text: Callable[[str], None]) -> Completion:
        return self._record(request, await self._client.stream(request, on_text))

    def _record(self, request: Request, completion: Completion) -> Completion:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(
                json.dumps(
                    {
                        "spec": self.spec,
                        "request": request_json(request),
                        "completion": dataclasses.asdict(completion),
                    },
                    default=str,
                )
                + "\n"
            )
        return completion
