"""`orchestrator run`: progress, a summary, the replay format, resuming after an escalation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor
from bot.engine.loader import load
from bot.engine.tasks import RecordingAgent
from tests.engine.context_agent import ContextAgent
from tests.engine.test_executor import ten_steps


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["run", *argv], environ={})
    return code, capsys.readouterr().out


def record(tmp_path: Path) -> Path:
    """A replay file, recorded from the test agent on the ten-step workflow."""
    recording = tmp_path / "ten.jsonl"
    source = ten_steps(tmp_path / "recorded")
    agent = RecordingAgent(ContextAgent(), recording)
    executor = Executor(load(source), agent, CheckpointStore(tmp_path / "rec-runs"))
    asyncio.run(executor.run("ten"))
    return recording


def test_a_replayed_run_shows_each_step_and_ends_with_a_summary(tmp_path, capsys):
    recording = record(tmp_path)
    repo = ten_steps(tmp_path / "repo")
    code, out = run(capsys, "ten", "--repo", str(repo), "--llm", f"replay:{recording}",
                    "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert code == 0, out
    assert "▶ ten:step-01-part: Write part 1" in out
    assert "↳ menu: choose C (policy: [C] carries the workflow on)" in out
    assert "done: 10 steps run" in out and "output: docs/report.md" in out
    assert "decisions: 10 by policy" in out
    expected = (tmp_path / "recorded/docs/report.md").read_text()
    assert (repo / "docs/report.md").read_text() == expected


def test_a_changed_workflow_does_not_match_the_recording(tmp_path, capsys):
    recording = record(tmp_path)
    repo = ten_steps(tmp_path / "repo", goal="Summarise chapter")
    code, out = run(capsys, "ten", "--repo", str(repo), "--llm", f"replay:{recording}",
                    "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert code == 1
    assert "exchange 1 differs" in out
    assert '- "step_goal": "Write part 1"' in out and '+ "step_goal": "Summarise chapter 1"' in out


def test_set_values_unknown_workflows_and_missing_models_are_explained(tmp_path, capsys):
    repo = ten_steps(tmp_path / "repo")
    code, out = run(capsys, "nope", "--repo", str(repo), "--llm", "replay:x.jsonl")
    assert code == 1 and "no such recording" in out
    code, out = run(capsys, "ten", "--repo", str(repo), "--llm", "anthropic:claude")
    assert code == 1 and "no price for anthropic:claude" in out  # never counted as free
    code, out = run(capsys, "ten", "--repo", str(repo))
    assert code == 1 and "--llm is needed" in out
    code, out = run(capsys, "ten", "--repo", str(repo), "--set", "broken")
    assert code == 2 and "is not KEY=VALUE" in out


def test_the_llm_help_lists_every_form(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"], environ={})
    text = " ".join(capsys.readouterr().out.split())
    for form in ("anthropic:MODEL", "openai:MODEL", "openai-compatible:MODEL", "replay:FILE"):
        assert form in text
    assert "ORCHESTRATOR_OPENAI_COMPATIBLE_URL" in text
