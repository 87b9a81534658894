"""Steps that must produce something are done only when it exists; steps that produce
nothing by design (menus, loading config, checks) are never held."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor
from bot.engine.loader import load
from bot.engine.tasks import Reply, Task
from tests.engine.conftest import install_path
from tests.engine.context_agent import ContextAgent

#: Planning workflows (analysis, planning, solutioning) by version.
PLANNING = {
    "6.0.4": ("1-analysis", "2-plan-workflows", "3-solutioning"),
    "6.12.0": ("bmad-product-brief", "bmad-prfaq", "bmad-prd", "bmad-ux", "bmad-spec",
               "bmad-architecture", "bmad-create-epics-and-stories", "bmad-project-context",
               "bmad-sprint-planning"),
}  # fmt: skip


class Silent(ContextAgent):
    """A model that answers everything in words and writes nothing (no tool calls)."""

    async def perform(self, task: Task) -> Reply:
        self.calls.append(task)
        if task.kind in ("act", "section"):
            return Reply()
        return await super().perform(task)


def copy(version: str, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(install_path(version), repo, symlinks=True)
    return repo


@pytest.mark.parametrize("version", sorted(PLANNING))
async def test_no_planning_step_escalates_for_want_of_output(tmp_path, version):
    project = load(install_path(version))
    names = [w.name for w in project.workflows if any(p in w.root for p in PLANNING[version])]
    assert len(names) >= 9
    held = 0
    for name in names:
        repo = tmp_path / name
        shutil.copytree(install_path(version), repo, symlinks=True)
        agent = ContextAgent()
        result = await Executor(load(repo), agent, CheckpointStore(repo / ".runs")).run(name)
        points = [e["point"] for e in result.escalations]
        assert "unproduced" not in points, (name, result.escalations)
        held += sum(1 for e in result.events if json.loads(e)["event"] == "unproduced")
        assert result.status == "done" or points in (["menu"], ["halt"]), (name, points)
    assert held == 0  # nothing had to be asked twice either


async def test_a_step_that_produced_nothing_is_asked_again_then_escalated(tmp_path):
    repo = copy("6.0.4", tmp_path)
    agent = Silent()
    store = CheckpointStore(tmp_path / "runs")
    result = await Executor(load(repo), agent, store).run("generate-project-context")
    assert result.status == "paused"
    [escalation] = result.escalations
    assert escalation["point"] == "unproduced"
    assert escalation["step"] == "step-01-discover"
    assert "_bmad-output/project-context.md" in escalation["question"]
    first, again = agent.calls[-2:]
    assert first.notice is None and again.step_id == first.step_id
    assert "_bmad-output/project-context.md" in (again.notice or "")
    assert not (repo / "_bmad-output/project-context.md").exists()
    # A person's answer resumes the step; an agent that writes it carries the run on.
    writer = ContextAgent()
    resumed = await Executor(load(repo), writer, store).run(
        "generate-project-context", resume=True, answer="write it from the template"
    )
    assert resumed.status == "done"
    assert "write it from the template" in (writer.calls[0].notice or "")  # the answer, passed on
    assert (repo / "_bmad-output/project-context.md").is_file()


async def test_a_template_output_with_no_content_is_held(tmp_path):
    repo = copy("6.0.4", tmp_path)
    result = await Executor(load(repo), Silent(), CheckpointStore(tmp_path / "runs")).run(
        "create-prd"
    )
    assert [e["point"] for e in result.escalations] == ["unproduced"]
    assert "prd.md" in result.escalations[0]["reason"]
