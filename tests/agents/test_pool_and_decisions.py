"""The pool's caps, order and cancellation (counted, never timed), and decisions."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.agents.decisions import Decider
from bot.agents.pool import AgentPool, Cancelled
from bot.llm.anthropic_client import AnthropicClient
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable


class Gate:
    """Work that holds its slot until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started: list[str] = []

    def work(self, name: str):
        async def run() -> str:
            self.started.append(name)
            await self.opened.wait()
            return name

        return run


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_caps_per_project_and_overall_hold_under_load():
    pool, gate = AgentPool(global_cap=4, per_project=2), Gate()
    jobs = [
        asyncio.ensure_future(
            pool.run("r", project, "planning", f"{project}{n}", gate.work(f"{project}{n}"))
        )
        for project in ("a", "b", "c")
        for n in range(3)
    ]
    await settle()
    assert pool.total == 4 and max(pool.in_flight.values()) == 2
    gate.opened.set()
    assert sorted(await asyncio.gather(*jobs)) == sorted(f"{p}{n}" for p in "abc" for n in range(3))
    assert pool.peak_total == 4 and max(pool.peak.values()) == 2 and pool.total == 0


async def test_planning_goes_before_development():
    pool, gate = AgentPool(global_cap=1, per_project=1), Gate()
    first = asyncio.ensure_future(pool.run("r", "p", "planning", "x", gate.work("holder")))
    await settle()
    later = [
        asyncio.ensure_future(pool.run("r", "p", phase, phase, gate.work(phase)))
        for phase in ("implementation", "review", "planning", "analysis")
    ]
    await settle()
    gate.opened.set()
    await asyncio.gather(first, *later)
    assert gate.started == ["holder", "analysis", "planning", "implementation", "review"]


async def test_cancelling_a_run_stops_its_agents_and_only_them():
    events = []
    pool, gate = AgentPool(global_cap=4), Gate()
    pool.on_event = lambda kind, data: events.append((kind, data["agent"]))
    mine = [
        asyncio.ensure_future(pool.run("mine", "p", "planning", f"m{n}", gate.work("m")))
        for n in range(2)
    ]
    other = asyncio.ensure_future(pool.run("other", "q", "planning", "o", gate.work("o")))
    await settle()
    assert pool.cancel("mine") == 2
    for job in mine:
        with pytest.raises(Cancelled):
            await job
    assert pool.in_flight["p"] == 0  # their slots are free at once
    gate.opened.set()
    assert await other == "o"
    assert ("failed", "m0") in events and ("finished", "o") in events


ONBOARDING = """# Team onboarding

## Which database should we use?
PostgreSQL 16, managed by the platform team.

## FAQ
Q: What is the target platform?
A: The web first; mobile later.

- Deployment: containers on Fly.io
"""


async def test_onboarding_answers_cite_file_and_line_and_the_model_answers_the_rest(
    tmp_path, anthropic_server
):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/onboarding.md").write_text(ONBOARDING)
    client = AnthropicClient("claude-haiku-4-5", api_key="k", base_url=anthropic_server.url)
    llm = Metered(client, PriceTable.load(), CostLedger())
    log = tmp_path / "decisions.jsonl"
    decider = Decider(tmp_path, ["docs/onboarding.md"], llm, threshold=0.75, log=log)
    db = await decider.decide("Which database should we use?")
    assert (db.source, db.answer, db.confidence, db.cited) == (
        "onboarding",
        "PostgreSQL 16, managed by the platform team.",
        0.95,
        "docs/onboarding.md:3",
    )
    platform = await decider.decide("what's the target platform for v1")
    assert platform.answer == "The web first; mobile later." and platform.cited.endswith(":7")
    deploy = await decider.decide("How is deployment done?")
    assert deploy.source == "onboarding" and "Fly.io" in deploy.answer
    context = "The design follows the system setting: dark mode when the device is dark."
    other = await decider.decide("Should the app support dark mode?", context)
    assert other.source == "model" and other.confidence == 0.9 and not other.escalated
    strict = Decider(tmp_path, [], llm, threshold=0.95)
    assert (await strict.decide("Should the app support dark mode?", context)).escalated
    # Nothing in the context to cite: its 0.9 alone does not decide.
    unfounded = await decider.decide("Should the app support dark mode?")
    assert unfounded.escalated and "it cites nothing" in unfounded.reasoning
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["source"] for e in logged] == ["onboarding"] * 3 + ["model"] * 2


async def test_a_confident_answer_that_cites_what_is_not_there_goes_to_a_person(
    tmp_path, anthropic_server
):
    anthropic_server.overconfident = True  # a tiny model: 1.0 to everything, quoting anything
    client = AnthropicClient("claude-haiku-4-5", api_key="k", base_url=anthropic_server.url)
    decider = Decider(tmp_path, [], Metered(client, PriceTable.load(), CostLedger()))
    decision = await decider.decide("Which queue should jobs use?", "Jobs run in SQLite.")
    assert decision.escalated and decision.confidence == 0.0
    assert "it said 1.00" in decision.reasoning and "is not in the context" in decision.reasoning
