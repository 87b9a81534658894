"""A document longer than an agent is shown is cut visibly: how much is missing, and where."""

from __future__ import annotations

import asyncio

from bot.engine.checkpoint import CheckpointStore
from bot.engine.excerpts import MAX_INPUT_CHARS
from bot.engine.executor import Executor
from bot.engine.loader import load
from tests.engine.context_agent import ContextAgent
from tests.engine.test_messy_repositories import WORKFLOW_YAML, bmad

PATTERNS = """\
input_file_patterns:
  sprint:
    whole: "{project-root}/docs/sprint-status.yaml"
"""
INSTRUCTIONS = """\
<workflow>
  <step n="1" goal="Load"><invoke-protocol name="discover_inputs" /></step>
  <step n="2" goal="Plan"><action>Pick the next story from {sprint_content}</action></step>
</workflow>
"""


def test_a_long_input_is_cut_with_a_mark_naming_the_rest(tmp_path):
    stories = "".join(f"  {n}-story-number-{n}: backlog\n" for n in range(1, 3000))
    status = "development_status:\n" + stories
    assert len(status) > 3 * MAX_INPUT_CHARS  # as long as real sprint-status files
    repo = bmad(
        tmp_path / "repo",
        **{
            "_bmad/bmm/workflows/make-notes/workflow.yaml": WORKFLOW_YAML + PATTERNS,
            "_bmad/bmm/workflows/make-notes/instructions.xml": INSTRUCTIONS,
            "docs/sprint-status.yaml": status,
        },
    )
    agent = ContextAgent()
    executor = Executor(load(repo), agent, CheckpointStore(tmp_path / "runs"))
    asyncio.run(executor.run("make-notes"))
    shown = agent.calls[-1].inputs["sprint"]
    start, mark = shown.split("\n\n[Cut here: ")
    assert status.startswith(start) and len(start) <= MAX_INPUT_CHARS
    assert start.endswith("backlog")  # cut at a line's end
    lines = start.count("\n") + 1
    left_out = len(status) - len(start) - 1
    assert mark.startswith(
        f"{left_out:,} of {len(status):,} characters are not shown, everything after line "
        f"{lines} of docs/sprint-status.yaml. Read the rest with your tools"
    )
    assert "the next story from development_status:" in agent.calls[-1].instruction


def test_a_short_input_is_shown_whole(tmp_path):
    repo = bmad(
        tmp_path / "repo",
        **{
            "_bmad/bmm/workflows/make-notes/workflow.yaml": WORKFLOW_YAML + PATTERNS,
            "_bmad/bmm/workflows/make-notes/instructions.xml": INSTRUCTIONS,
            "docs/sprint-status.yaml": "development_status:\n  1-a: done\n",
        },
    )
    agent = ContextAgent()
    asyncio.run(Executor(load(repo), agent, CheckpointStore(tmp_path / "runs")).run("make-notes"))
    assert agent.calls[-1].inputs["sprint"] == "development_status:\n  1-a: done\n"
