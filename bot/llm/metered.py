"""Every call as policy wants it: price known, budget checked, retried, reply checked, charged.

A reply that is not what was asked — structured output that does not match its schema, a
call to a tool that was not offered — is sent back to the model once with the error; the
second miss raises `ReplyNotAsked`. A reply cut at `max_tokens` is never taken as whole: the
call is made again with twice the room, twice at most and within the window, then
`ReplyCut`. The window is the operator's setting, else what the server says, else the table's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema

from bot.llm.budget import Budget, estimated_input_tokens
from bot.llm.errors import ReplyCut, ReplyNotAsked
from bot.llm.ledger import Charge, CostLedger
from bot.llm.pricing import PriceTable
from bot.llm.retry import ModelRetries
from bot.llm.types import Completion, LLMClient, Message, Request
from bot.llm.window import HEADROOM, fit, window_for

#: Stop reasons that mean the reply was cut at `max_tokens` (OpenAI's, Anthropic's).
CUT = frozenset({"length", "max_tokens"})
#: How many times a cut reply is asked again with twice the room.
MORE_ROOM = 2


@dataclasses.dataclass
class Metered:
    client: LLMClient
    prices: PriceTable
    ledger: CostLedger
    budget: Budget | None = None
    retry: ModelRetries = dataclasses.field(default_factory=ModelRetries)
    overhead_s: float = 0.0  # our own time per call, SDK and HTTP excluded (for the bench)
    window: int | None = None  # the operator's setting; else asked of the server once
    tools_proven_at: float | None = None  # monotonic: the model last made a tool call asked for
    probing: asyncio.Lock = dataclasses.field(
        default_factory=asyncio.Lock, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.price = self.prices.price(self.client.spec)  # an unknown model is refused here
        self._asked_window = self.window is not None

    async def context_window(self) -> int:
        """The model's window in tokens: the operator's, the server's, else the table's."""
        if not self._asked_window:
            self._asked_window = True
            self.window = await self.client.context_window()
        return self.window or window_for(self.client.spec.partition(":")[2])

    async def complete(
        self,
        request: Request,
        *,
        on_text: Callable[[str], None] | None = None,
        charge: Mapping[str, str] | None = None,
    ) -> Completion:
        """One call as policy wants it; with `on_text`, streamed; its cost charged to
        `charge` (project, workflow, agent, story)."""
        charge_to = dict(charge or {})
        window = await self.context_window()
        request = fit(request, window)
        completion = await self._roomy(request, window, charge_to, on_text)
        problem = self._problem(request, completion)
        if problem is None:
            return completion
        correction = dataclasses.replace(
            request,
            messages=(
                *request.messages,
                Message(
                    "assistant",
                    completion.text or str(completion.structured or ""),
                    completion.tool_calls,
                ),
                Message("user", f"That reply was not what was asked: {problem}. Answer again."),
            ),
        )
        completion = await self._roomy(correction, window, charge_to, on_text)
        problem = self._problem(request, completion)
        if problem is not None:
            raise ReplyNotAsked(f"{self.client.spec}: {problem} (after one correction)")
        return completion

    async def _roomy(
        self,
        request: Request,
        window: int,
        charge_to: Mapping[str, str],
        on_text: Callable[[str], None] | None,
    ) -> Completion:
        """The call; a reply cut at `max_tokens` asked again with twice the room."""
        completion = await self._charged(request, charge_to, on_text)
        for _ in range(MORE_ROOM):
            if completion.stop_reason not in CUT:
                return completion
            room = int(window * HEADROOM) - estimated_input_tokens(request)
            if room <= request.max_tokens:
                break
            request = dataclasses.replace(request, max_tokens=min(request.max_tokens * 2, room))
            completion = await self._charged(request, charge_to, on_text)
        if completion.stop_reason in CUT:
            raise ReplyCut(
                f"{self.client.spec}: the reply was cut at {request.max_tokens} tokens "
                f"(window {window}); it is not taken as whole"
            )
        return completion

    async def _charged(
        self,
        request: Request,
        charge_to: Mapping[str, str],
        on_text: Callable[[str], None] | None,
    ) -> Completion:
        started = time.perf_counter()
        if self.budget is not None:
            self.budget.check(request, self.price)
        own = time.perf_counter() - started
        completion = await self.retry.call(
            lambda: (
                self.client.stream(request, on_text) if on_text else self.client.complete(request)
            )
        )
        started = time.perf_counter()
        cost = self.price.cost(completion.usage)
        if self.budget is not None:
            self.budget.record(cost)
        self.ledger.add(
            Charge(
                project=charge_to.get("project", ""),
                workflow=charge_to.get("workflow", ""),
                agent=charge_to.get("agent", ""),
                story=charge_to.get("story", ""),
                model=self.client.spec,
                usage=completion.usage,
                cost_usd=cost,
            )
        )
        self.overhead_s += own + time.perf_counter() - started
        return completion

    @staticmethod
    def _problem(request: Request, completion: Completion) -> str | None:
        offered = {tool.name for tool in request.tools}
        unknown = [c.name for c in completion.tool_calls if c.name not in offered]
        if unknown:
            return f"it called {', '.join(unknown)}, which is not one of the tools offered"
        if request.response_schema is None:
            return None
        if completion.structured is None:
            return "it gave no structured answer"
        return _schema_error(completion.structured, request.response_schema)


def _schema_error(value: Any, schema: Mapping[str, Any]) -> str | None:
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(dict(schema)).iter_errors(value)
    )
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the answer"
    return f"{where}: {error.message}"
