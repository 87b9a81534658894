"""Whether a model makes tool calls: asked once per model at the start of a run, because an
agent that cannot call tools writes nothing and would look done."""

from __future__ import annotations

from bot.llm.errors import LLMError
from bot.llm.metered import Metered
from bot.llm.types import Message, Request, ToolSpec
from bot.templates import render

READY = ToolSpec("ready", "Say that you are ready", {"type": "object", "properties": {}})


class NoToolCalls(LLMError):
    """The model answered a request that offered one tool, and asked for it, in words."""


async def require_tool_calls(llm: Metered) -> None:
    """One small call offering one tool and asking for it; NoToolCalls when none comes."""
    request = Request(
        system="You are an agent that works through tools.",
        messages=(Message("user", render("llm/probe.md.j2")),),
        tools=(READY,),
        max_tokens=64,
        temperature=0.0,
    )
    completion = await llm.complete(request, charge={"workflow": "tool-call probe"})
    if any(call.name == READY.name for call in completion.tool_calls):
        return
    raise NoToolCalls(render("llm/no_tool_calls.md.j2", spec=llm.client.spec))
