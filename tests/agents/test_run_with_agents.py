"""End to end: `orchestrator run` of the PRD and architecture workflows (BMAD 6.0.4, installed
by its installer) with persona-led agents backed by the local Anthropic-protocol server; the
decision log shows which questions the onboarding documents answered and which the model."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys

import pytest

from tests.engine.conftest import install_path
from tests.support import ROOT

pytestmark = pytest.mark.slow

ONBOARDING = """# Onboarding for todo-app

## What problem does this solve?
People lose track of to-dos scattered across text files.

## FAQ
Q: What makes it unique compared to existing solutions?
A: One plain-text list per folder, versioned with the code.
"""
CONFIG = """agents:
  default: anthropic:claude-haiku-4-5
onboarding: [docs/onboarding.md]
escalation_threshold: 0.75
max_concurrent_agents: 2
"""


async def orchestrator(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    return process.returncode or 0, output.decode()


async def test_prd_and_architecture_complete_with_agents(anthropic_server, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(install_path("6.0.4"), repo, symlinks=True)
    (repo / "docs/onboarding.md").write_text(ONBOARDING)
    (repo / ".github").mkdir()
    (repo / ".github/orchestrator.yml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env |= {
        "ANTHROPIC_BASE_URL": anthropic_server.url,
        "ANTHROPIC_API_KEY": "test-key",
        "ORCHESTRATOR_ALLOWED_MODELS": "anthropic:claude-haiku-4-5",
    }
    data = tmp_path / "data"
    for workflow in ("create-prd", "create-architecture"):
        code, out = await orchestrator(
            "run",
            workflow,
            "--repo",
            str(repo),
            "--llm",
            "anthropic:claude-haiku-4-5",
            "--data-dir",
            str(data),
            env=env,
        )
        assert code == 0, out
        assert "done:" in out and "model calls:" in out

    prd = (repo / "_bmad-output/planning-artifacts/prd.md").read_text()
    assert "stepsCompleted: [1, 2, 2b, 2c, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]" in prd
    assert (repo / "_bmad-output/planning-artifacts/architecture.md").exists()
    log = [json.loads(line) for line in (data / "decisions.jsonl").read_text().splitlines()]
    by_onboarding = {e["question"]: e for e in log if e["source"] == "onboarding"}
    assert by_onboarding["What problem does this solve?"]["cited"] == "docs/onboarding.md:3"
    assert "What makes it unique compared to existing solutions?" in by_onboarding
    by_model = [e for e in log if e["source"] == "model"]
    assert by_model and all(not e["escalated"] for e in by_model)
    assert "Table naming: users, Users, or user?" in {e["question"] for e in by_model}
    # the personas did the work: John for the PRD, Winston for the architecture
    systems = {r["system"][0]["text"].split(",")[0] for r in anthropic_server.requests}
    assert {"You are John", "You are Winston"} <= systems
