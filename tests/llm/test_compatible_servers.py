"""The OpenAI-compatible client against servers that behave like the real local ones: no
`json_schema` (HTTP 500), replies cut at `max_tokens`, a window only the server knows."""

from __future__ import annotations

import pytest

from bot.llm.errors import LLMError, LLMUnavailable, ReplyCut, ReplyNotAsked
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.openai_client import OpenAIClient
from bot.llm.pricing import PriceTable
from bot.llm.retry import ModelRetries
from bot.llm.types import Message, Request
from bot.llm.window import operator_window
from bot.localmodel.openai_wire import LLAMA_CPP_PYTHON
from tests.llm.test_clients import ask

MODEL = "qwen2.5-0.5b-instruct"
PRICES = {"openai-compatible": {MODEL: {"input": 0, "output": 0}}}


async def no_wait(_seconds: float) -> None:
    return None


def local(server, **options) -> Metered:
    client = OpenAIClient(MODEL, api_key="k", base_url=server.url, provider="openai-compatible")
    return Metered(
        client, PriceTable(PRICES), CostLedger(), retry=ModelRetries(sleep=no_wait), **options
    )


async def test_structured_output_degrades_to_json_object_and_remembers_it(openai_like):
    server = await openai_like(formats=LLAMA_CPP_PYTHON)
    llm = local(server)
    first = await llm.complete(ask())
    assert first.structured == {"answer": "no", "confidence": 0.9}
    kinds = [r.get("response_format", {}).get("type") for r in server.requests]
    assert kinds == ["json_schema", "json_object"]  # the 500 was a refusal, not an outage
    assert "<schema>" in server.requests[1]["messages"][0]["content"]  # the schema in words
    await llm.complete(ask())
    assert [r["response_format"]["type"] for r in server.requests[2:]] == ["json_object"]
    assert len(llm.ledger.charges) == 2


async def test_a_server_without_response_formats_is_asked_in_the_prompt(openai_like):
    server = await openai_like(formats=("text",))
    llm = local(server)
    completion = await llm.complete(ask())
    assert completion.structured == {"answer": "no", "confidence": 0.9}
    assert "response_format" not in server.requests[-1]
    shape = {"type": "object", "required": ["verdict"], "properties": {"verdict": {}}}
    odd = Request("You are Mary.", (Message("user", "Judge it."),), response_schema=shape)
    with pytest.raises(ReplyNotAsked, match="verdict"):  # validated in every mode
        await llm.complete(odd)


async def test_only_a_failure_of_the_weakest_form_is_an_outage(openai_like):
    server = await openai_like()
    for _ in range(12):
        server.fail_next(503)
    llm = local(server)
    with pytest.raises(LLMUnavailable):
        await llm.complete(ask())
    assert len(server.requests) == 12  # 4 attempts, each in every form
    assert llm.client.structured == "json_schema"  # an outage teaches nothing


async def test_a_reply_cut_at_max_tokens_is_asked_again_with_more_room(openai_like):
    server = await openai_like()
    llm = local(server)
    request = Request(
        "You are Mary.",
        (Message("user", "<goal>\nWrite the vision\n</goal>\n\n<project>\nTodo\n</project>"),),
        max_tokens=4,
    )
    completion = await llm.complete(request)
    assert completion.stop_reason == "stop"
    assert completion.text == "## Write the vision\n\nTodo: write the vision."
    assert [r["max_tokens"] for r in server.requests] == [4, 8, 16]
    cramped = local(server, window=20)
    with pytest.raises(ReplyCut, match="cut at"):
        await cramped.complete(request)


async def test_the_window_is_the_operators_else_the_servers(openai_like):
    server = await openai_like(n_ctx=4096)
    assert await local(server).context_window() == 4096
    assert await local(server, window=2048).context_window() == 2048
    silent = await openai_like()
    assert await local(silent).context_window() == 128_000  # the table's default
    environ = {"ORCHESTRATOR_CONTEXT_WINDOWS": f"8192, openai-compatible:{MODEL}=32768"}
    assert operator_window(f"openai-compatible:{MODEL}", environ) == 32768
    assert operator_window("openai:gpt-4o", environ) == 8192
    with pytest.raises(LLMError, match="SPEC=TOKENS"):
        operator_window("openai:gpt-4o", {"ORCHESTRATOR_CONTEXT_WINDOWS": "big"})
