"""The clients through the real SDKs against local wire-protocol servers: retries, budgets,
prices, replies that are not what was asked, prompt caching."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from bot.llm.anthropic_client import AnthropicClient, build_params
from bot.llm.budget import Budget
from bot.llm.errors import (
    BudgetExceeded,
    LLMError,
    LLMUnavailable,
    ModelNotAllowed,
    ReplyNotAsked,
    UnknownModelPrice,
)
from bot.llm.factory import make_client
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.openai_client import OpenAIClient
from bot.llm.pricing import PriceTable
from bot.llm.retry import ModelRetries
from bot.llm.types import Message, Request, ToolSpec

MODEL = "claude-haiku-4-5"
CHECK = {
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
}


class Clock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def metered(client, clock=None, **options) -> Metered:
    retry = ModelRetries(sleep=(clock or Clock()).sleep)
    return Metered(client, PriceTable.load(), CostLedger(), retry=retry, **options)


def anthropic(server) -> AnthropicClient:
    return AnthropicClient(MODEL, api_key="test-key", base_url=server.url)


def ask(question: str = "Does the brief exist?") -> Request:
    return Request(
        system="You are Mary.",
        messages=(Message("user", f"<instruction>\n{question}\n</instruction>"),),
        response_schema=CHECK,
        max_tokens=200,
    )


async def test_a_structured_answer_through_the_anthropic_sdk_is_charged(anthropic_server):
    llm = metered(anthropic(anthropic_server))
    completion = await llm.complete(ask(), charge={"workflow": "create-prd", "agent": "analyst"})
    assert completion.structured == {"answer": "no", "confidence": 0.9}
    assert llm.ledger.total_usd > 0
    assert llm.ledger.totals("workflow") == {"create-prd": llm.ledger.total_usd}
    [sent] = anthropic_server.requests
    assert sent["tool_choice"] == {"type": "tool", "name": "respond"}


async def test_retries_honour_retry_after_then_back_off_then_give_up(anthropic_server):
    clock = Clock()
    llm = metered(anthropic(anthropic_server), clock)
    anthropic_server.fail_next(429, retry_after=3)
    anthropic_server.fail_next(529)
    anthropic_server.fail_next(500)
    completion = await llm.complete(ask())
    assert completion.structured["answer"] == "no"
    assert clock.slept == [3.0, 2.0, 4.0]  # retry-after, then 2 s and 4 s
    for _ in range(4):
        anthropic_server.fail_next(503)
    with pytest.raises(LLMUnavailable) as raised:
        await llm.complete(ask())
    assert raised.value.attempts == 4 and len(anthropic_server.requests) == 4 + 4


async def test_a_malformed_reply_is_retried_and_a_refusal_is_not(anthropic_server):
    clock = Clock()
    llm = metered(anthropic(anthropic_server), clock)
    anthropic_server.fail_next(200, body="this is not json")
    assert (await llm.complete(ask())).structured is not None
    assert clock.slept == [1.0]
    anthropic_server.fail_next(400)
    with pytest.raises(LLMError, match="refused the call"):
        await llm.complete(ask())
    assert clock.slept == [1.0]


async def test_no_call_is_made_that_could_cross_the_budget(anthropic_server):
    warnings = []
    budget = Budget(limit_usd=0.004, on_warning=lambda spent, limit: warnings.append(spent))
    llm = metered(anthropic(anthropic_server), budget=budget)
    await llm.complete(ask())
    assert budget.spent_usd > 0
    big = Request(system="s", messages=(Message("user", "x" * 3000),), max_tokens=1000)
    with pytest.raises(BudgetExceeded) as raised:
        await llm.complete(big)
    assert raised.value.worst_case + budget.spent_usd > 0.004
    assert len(anthropic_server.requests) == 1  # the second call was never sent


def test_a_model_without_a_price_is_refused_never_free(tmp_path):
    client = AnthropicClient("claude-mystery-9", api_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(UnknownModelPrice, match="ORCHESTRATOR_PRICES"):
        metered(client)
    extra = tmp_path / "prices.yaml"
    extra.write_text("anthropic:\n  claude-mystery-9: {input: 1, output: 2}\n")
    priced = Metered(client, PriceTable.load(extra), CostLedger())
    assert priced.price.output == 2.0 and priced.price.cache_read == 1.0
    assert PriceTable.load().price("anthropic:claude-sonnet-4-5-20250929").input == 3.0


async def test_a_reply_not_as_asked_is_sent_back_once_then_raised(anthropic_server):
    strict = {
        "type": "object",
        "properties": {"verdict": {"type": "string"}},
        "required": ["verdict"],
    }
    llm = metered(anthropic(anthropic_server))
    request = Request(system="s", messages=(Message("user", "Judge it"),), response_schema=strict)
    with pytest.raises(ReplyNotAsked, match="'verdict' is a required property"):
        await llm.complete(request)
    _first, second = anthropic_server.requests
    last = second["messages"][-1]["content"][0]["text"]
    assert "That reply was not what was asked" in last and "verdict" in last


def test_cache_breakpoints_and_a_byte_identical_prefix_over_twenty_turns():
    tools = (
        ToolSpec(
            "read_file",
            "Read a file",
            {"type": "object", "properties": {"path": {"type": "string"}}},
        ),
    )
    stable = ("# Skill\n" + "step " * 500, "# Project docs\n" + "doc " * 2000)
    messages: tuple[Message, ...] = (Message("user", "Start"),)
    prefixes = set()
    for turn in range(20):
        params = build_params(Request("You are Amelia.", messages, stable, tools), MODEL)
        blob = json.dumps(params, sort_keys=True)
        assert blob.count('"cache_control"') <= 4
        prefix = json.dumps([params["tools"], params["system"]], sort_keys=True)
        prefixes.add(hashlib.sha256(prefix.encode()).hexdigest())
        messages = (*messages, Message("assistant", f"turn {turn}"), Message("user", "go on"))
    assert len(prefixes) == 1


async def test_anthropic_cache_reads_grow_across_turns(anthropic_server):
    llm = metered(anthropic(anthropic_server))
    stable = ("# Project docs\n" + "words " * 3000,)
    messages: tuple[Message, ...] = (Message("user", "Start"),)
    reads = []
    for turn in range(5):
        completion = await llm.complete(Request("You are Amelia.", messages, stable))
        reads.append(completion.usage.cache_read_tokens)
        messages = (
            *messages,
            Message("assistant", completion.text or f"t{turn}"),
            Message("user", f"next {turn}"),
        )
    assert reads[0] == 0 and all(b > a for a, b in itertools.pairwise(reads[1:]))


async def test_openai_structured_output_and_compatible_servers(openai_server):
    client = OpenAIClient("gpt-4o-mini", api_key="k", base_url=openai_server.url)
    completion = await metered(client).complete(ask())
    assert completion.structured == {"answer": "no", "confidence": 0.9}
    assert openai_server.requests[0]["response_format"]["type"] == "json_schema"
    env = {"ORCHESTRATOR_OPENAI_COMPATIBLE_URL": openai_server.url}
    local = make_client("openai-compatible:llama3", env)
    assert local.spec == "openai-compatible:llama3"
    with pytest.raises(LLMError, match="ORCHESTRATOR_OPENAI_COMPATIBLE_URL"):
        make_client("openai-compatible:llama3", {})


def test_a_repository_chooses_only_among_the_operators_models():
    env = {
        "ORCHESTRATOR_ALLOWED_MODELS": "anthropic:claude-sonnet-4-5, openai:gpt-4o-mini",
        "ANTHROPIC_API_KEY": "operator-key",
    }
    assert make_client("anthropic:claude-sonnet-4-5", env, chosen_by_repository=True)
    with pytest.raises(ModelNotAllowed, match="not among the models the operator allows"):
        make_client("anthropic:claude-opus-4", env, chosen_by_repository=True)
    with pytest.raises(LLMError, match="not a model spec"):
        make_client("evil", env)


def test_a_conversation_nearing_the_window_loses_its_oldest_tool_results_first():
    from bot.llm.window import fit

    reads = [Message("tool", f"file {n}: " + "x" * 40_000, tool_call_id=f"t{n}") for n in range(6)]
    request = Request(
        "sys", (Message("user", "Fix the bug"), *reads), stable=("docs",), max_tokens=1000
    )
    fitted = fit(request, window=60_000)
    contents = [m.content for m in fitted.messages]
    assert contents[0] == "Fix the bug" and fitted.stable == ("docs",)
    assert contents[1].startswith("[tool result trimmed") and contents[-1].startswith("file 5")
    assert contents[-2].startswith("file 4")  # the newest two are kept whole
    assert fit(request, window=10_000_000) is request  # nothing to do when it fits


async def test_the_budget_warns_once_at_eighty_percent(anthropic_server):
    warnings = []
    budget = Budget(limit_usd=0.01, on_warning=lambda spent, limit: warnings.append(spent))
    llm = metered(anthropic(anthropic_server), budget=budget)
    with pytest.raises(BudgetExceeded):
        for _ in range(500):
            await llm.complete(ask())
    assert len(warnings) == 1 and warnings[0] >= 0.8 * 0.01
    assert budget.spent_usd <= 0.01  # stopped before the call that could cross it


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_streaming_hands_text_over_as_it_arrives(anthropic_server, openai_server, provider):
    if provider == "anthropic":
        client, server = anthropic(anthropic_server), anthropic_server
    else:
        client = OpenAIClient("gpt-4o-mini", api_key="k", base_url=openai_server.url)
        server = openai_server
    pieces: list[str] = []
    request = Request(
        "sys", (Message("user", "<goal>\nWrite the vision\n</goal>\n<project>\nTodo\n</project>"),)
    )
    completion = await metered(client).complete(request, on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == completion.text
    assert completion.text.startswith("## Write the vision")
    assert completion.usage.output_tokens > 0 and server.requests[0]["stream"] is True
    tools = (
        ToolSpec(
            "read_file", "Read", {"type": "object", "properties": {"path": {"type": "string"}}}
        ),
    )
    calls = await metered(client).complete(
        Request("sys", (Message("user", "Read `src/a.py` first"),), tools=tools),
        on_text=pieces.append,
    )
    assert [(c.name, dict(c.arguments)) for c in calls.tool_calls] == [
        ("read_file", {"path": "src/a.py"})
    ]
