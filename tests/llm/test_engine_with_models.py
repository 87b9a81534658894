"""Models behind the engine: a spent budget or an unavailable model pauses the run with an
escalation (never a crash), and model-level recordings replay exactly."""

from __future__ import annotations

import re

import pytest

from bot.agents.task_agent import TaskAgent
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor
from bot.engine.loader import load
from bot.engine.outputs import steps_completed
from bot.llm.anthropic_client import AnthropicClient
from bot.llm.budget import Budget
from bot.llm.factory import make_client
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable
from bot.llm.replay import RecordingClient, RequestMismatch
from bot.llm.retry import ModelRetries
from bot.llm.types import Message, Request
from tests.engine.test_executor import ten_steps

MODEL = "claude-haiku-4-5"


async def no_wait(_seconds: float) -> None:
    return None


def agent(server, budget: Budget | None = None) -> TaskAgent:
    client = AnthropicClient(MODEL, api_key="k", base_url=server.url)
    metered = Metered(
        client, PriceTable.load(), CostLedger(), budget=budget, retry=ModelRetries(sleep=no_wait)
    )
    return TaskAgent(metered, max_tokens=500)


async def test_a_spent_budget_pauses_the_run_with_a_budget_escalation(anthropic_server, tmp_path):
    repo, store = ten_steps(tmp_path / "repo"), CheckpointStore(tmp_path / "runs")
    tight = Budget(limit_usd=0.0032)  # room for a few steps, not ten
    paused = await Executor(load(repo), agent(anthropic_server, tight), store).run("ten")
    assert paused.status == "paused"
    [escalation] = paused.escalations
    assert escalation["point"] == "budget" and "BudgetExceeded" in escalation["reason"]
    assert tight.spent_usd <= 0.0032
    written = steps_completed((repo / "docs/report.md").read_text())
    assert 0 < len(written) < 10  # what was paid for is kept
    resumed = await Executor(load(repo), agent(anthropic_server, Budget(1.0)), store).run(
        "ten", resume=True
    )
    assert resumed.status == "done"
    assert "## Write part 10" in (repo / "docs/report.md").read_text()


async def test_an_unavailable_model_pauses_the_run(anthropic_server, tmp_path):
    repo, store = ten_steps(tmp_path / "repo"), CheckpointStore(tmp_path / "runs")
    for _ in range(4):
        anthropic_server.fail_next(529)
    paused = await Executor(load(repo), agent(anthropic_server), store).run("ten")
    assert paused.status == "paused" and "LLMUnavailable" in paused.escalations[0]["reason"]
    resumed = await Executor(load(repo), agent(anthropic_server), store).run("ten", resume=True)
    assert resumed.status == "done"


async def test_recorded_model_exchanges_replay_and_a_departure_shows_a_diff(
    anthropic_server, tmp_path
):
    recording = tmp_path / "calls.jsonl"
    live = RecordingClient(
        AnthropicClient(MODEL, api_key="k", base_url=anthropic_server.url), recording
    )
    request = Request(
        "You are John.", (Message("user", "<goal>\nPlan\n</goal>\n\n<project>\nTodo\n</project>"),)
    )
    recorded = await live.complete(request)
    replay = make_client(f"replay:{recording}", {})
    assert replay.spec == f"anthropic:{MODEL}"  # priced as the model it was recorded from
    assert (await replay.complete(request)).text == recorded.text
    other = make_client(f"replay:{recording}", {})
    with pytest.raises(RequestMismatch, match=re.escape('"system": "You are Mary."')):
        await other.complete(Request("You are Mary.", request.messages))
