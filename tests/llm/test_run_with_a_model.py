"""`orchestrator run` with a model: the real SDK, pointed by ANTHROPIC_BASE_URL at the local
Anthropic-protocol server, no replay provider anywhere — and the workflow completes."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from tests.engine.test_executor import ten_steps
from tests.support import ROOT

pytestmark = pytest.mark.slow


async def test_a_workflow_runs_to_the_end_against_the_anthropic_protocol(
    anthropic_server, tmp_path
):
    repo = ten_steps(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env |= {"ANTHROPIC_BASE_URL": anthropic_server.url, "ANTHROPIC_API_KEY": "test-key"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "ten",
        "--repo",
        str(repo),
        "--llm",
        "anthropic:claude-haiku-4-5",
        "--data-dir",
        str(tmp_path / "data"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = output.decode()
    assert process.returncode == 0, text
    # A tool-call probe, then one call a step; the menus are the policy's.
    assert "done: 10 steps run" in text and "model calls: 11, $0.00" in text
    assert re.search(r"tokens: \d+ in, [1-9]\d* out, [1-9]\d* read from cache", text)
    report = (repo / "docs/report.md").read_text()
    assert "Tenfold: write part 10." in report  # the model's answer, from the step it was sent
    assert len(anthropic_server.requests) == 11
    assert [t["name"] for t in anthropic_server.requests[0]["tools"]] == ["ready"]
    first = anthropic_server.requests[1]["messages"][0]["content"][0]["text"]
    assert "<instruction>\n# Step 1" in first and "<goal>\nWrite part 1\n</goal>" in first
