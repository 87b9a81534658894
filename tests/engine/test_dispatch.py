"""Dispatch on instruction kind: an instruction of a kind no branch handles stops the run
with an error that names it and where it is, instead of being skipped in silence."""

from __future__ import annotations

import dataclasses

import pytest

from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor, RunError
from bot.engine.loader import load
from tests.engine.context_agent import ContextAgent
from tests.engine.test_executor import ten_steps


async def test_an_unknown_instruction_kind_is_an_error(tmp_path):
    project = load(ten_steps(tmp_path / "repo"))
    [workflow] = [w for w in project.workflows if w.name == "ten"]
    first = workflow.steps[0]
    odd = dataclasses.replace(first.instructions[0], kind="frobnicate")
    step = dataclasses.replace(first, instructions=(odd, *first.instructions[1:]), attrs={})
    project.workflows[project.workflows.index(workflow)] = dataclasses.replace(
        workflow, steps=(step, *workflow.steps[1:])
    )
    executor = Executor(project, ContextAgent(), CheckpointStore(tmp_path / "runs"))
    with pytest.raises(
        RunError, match=r"step-01-part\.md:\d+: unknown instruction kind 'frobnicate'"
    ):
        await executor.run("ten")
