"""Whether a model makes tool calls: asked before an agent works, because an agent that
cannot call tools writes nothing and would look done. A model that answered with a tool call
is taken at its word for an hour (the story server asked the same model once per story)."""

from __future__ import annotations

import time

from bot.llm.errors import LLMError
from bot.llm.metered import Metered
from bot.llm.types import Message, Request, ToolSpec
from bot.templates import render

#: How long a model that made the tool call asked for is not asked again: a server behind an
#: address can be given another model, so the answer does not stand for ever.
TRUSTED_FOR_S = 3600.0

READY = ToolSpec("ready", "Say that you are ready", {"type": "object", "properties": {}})


class NoToolCalls(LLMError):
    """The model answered a request that offered one tool, and asked for it, in words."""


async def require_tool_calls(llm: Metered) -> None:
    """One small call offering one tool and asking for it; NoToolCalls when none comes. Not
    asked again within TRUSTED_FOR_S of a tool call; callers at once share one call."""
    async with llm.probing:
        if _trusted(llm):
            return
        request = Request(
            system="You are an agent that works through tools.",
            messages=(Message("user", render("llm/probe.md.j2")),),
            tools=(READY,),
            max_tokens=64,
            temperature=0.0,
        )
        completion = await llm.complete(request, charge={"workflow": "tool-call probe"})
        if any(call.name == READY.name for call in completion.tool_calls):
            llm.tools_proven_at = time.monotonic()
            return
    raise NoToolCalls(render("llm/no_tool_calls.md.j2", spec=llm.client.spec))


def _trusted(llm: Metered) -> bool:
    proven = llm.tools_proven_at
    return proven is not None and time.monotonic() - proven < TRUSTED_FOR_S
