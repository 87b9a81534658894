"""`orchestrator run --llm openai-compatible:…` against a server like llama-cpp-python's: a
model that makes no tool calls is refused before any step; one that makes them runs the
workflow to its end, its window taken from the server."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from bot.localmodel.openai_wire import LLAMA_CPP_PYTHON
from tests.engine.test_executor import ten_steps
from tests.support import ROOT

pytestmark = pytest.mark.slow
SPEC = "openai-compatible:qwen2.5-0.5b-instruct"


async def run(server, tmp_path) -> tuple[int, str]:
    repo = ten_steps(tmp_path / "repo")
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai-compatible:\n  qwen2.5-0.5b-instruct: {input: 0, output: 0}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env |= {"ORCHESTRATOR_OPENAI_COMPATIBLE_URL": server.url, "ORCHESTRATOR_PRICES": str(prices)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "ten", "--repo", str(repo), "--llm", SPEC,
        "--data-dir", str(tmp_path / "data"), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


async def test_a_model_without_tool_calls_is_refused_before_any_step(openai_like, tmp_path):
    server = await openai_like(formats=LLAMA_CPP_PYTHON, tool_calls=False)
    code, out = await run(server, tmp_path)
    assert code == 1, out
    assert f"{SPEC} makes no tool calls" in out and "llama-server --jinja" in out
    assert "▶" not in out and len(server.requests) == 1  # the probe, and no step
    assert not (tmp_path / "repo/docs/report.md").exists()


async def test_a_model_with_tool_calls_runs_to_the_end(openai_like, tmp_path):
    server = await openai_like(formats=LLAMA_CPP_PYTHON, n_ctx=32768)
    code, out = await run(server, tmp_path)
    assert code == 0, out
    assert "done: 10 steps run" in out and "tokens: " in out
    assert "Tenfold: write part 10." in (tmp_path / "repo/docs/report.md").read_text()
    assert server.props_asked == 1  # the window asked of the server once, for the whole run
