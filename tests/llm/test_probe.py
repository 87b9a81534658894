"""The tool-call probe before an agent works: a model that made the call asked for is not
asked again for an hour (the story server asked the same model once per story), callers at
once share one call, and a model that made none is asked again the next time."""

from __future__ import annotations

import asyncio

import pytest

from bot.llm.probe import TRUSTED_FOR_S, NoToolCalls, require_tool_calls
from tests.llm.test_compatible_servers import local


async def test_a_model_that_made_the_call_is_taken_at_its_word_for_an_hour(openai_like):
    server = await openai_like()
    llm = local(server)
    await require_tool_calls(llm)
    await require_tool_calls(llm)
    assert len(server.requests) == 1
    assert [t["function"]["name"] for t in server.requests[0]["tools"]] == ["ready"]
    assert llm.tools_proven_at is not None
    llm.tools_proven_at -= TRUSTED_FOR_S + 1  # an hour has gone by
    await require_tool_calls(llm)
    assert len(server.requests) == 2


async def test_callers_at_once_share_one_call(openai_like):
    server = await openai_like()
    llm = local(server)
    await asyncio.gather(*(require_tool_calls(llm) for _ in range(5)))
    assert len(server.requests) == 1


async def test_a_model_that_made_no_call_is_asked_again_each_time(openai_like):
    server = await openai_like(tool_calls=False)
    llm = local(server)
    for asked in (1, 2):
        with pytest.raises(NoToolCalls, match="makes no tool calls"):
            await require_tool_calls(llm)
        assert len(server.requests) == asked
    assert llm.tools_proven_at is None
