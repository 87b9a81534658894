"""The executor runs workflows to their end, autonomously, and resumes at every step."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.autonomy import AutonomyPolicy
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import MAX_VISITS, Executor, RunError
from bot.engine.loader import load
from bot.engine.outputs import steps_completed
from tests.engine.conftest import install_path
from tests.engine.context_agent import ContextAgent
from tests.engine.test_messy_repositories import write
from tests.support import ROOT


def copy_install(version: str, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(install_path(version), repo, symlinks=True)
    return repo


SPRINT_STATUS = """\
# STATUS DEFINITIONS: backlog, ready-for-dev, in-progress, review, done
generated: 2026-11-24
project: todo
development_status:
  epic-1: backlog
  1-1-user-login: backlog
  1-2-password-reset: backlog
  epic-1-retrospective: optional
"""


def planned(repo: Path) -> Path:
    """What the planning workflows leave behind: epics and a sprint status."""
    return write(
        repo,
        {
            "_bmad-output/planning-artifacts/epics.md": "# Epics\n\n## Epic 1: Accounts\n\n"
            "### Story 1.1: User login\n\n"
            "As a user, I want to log in, so that my lists are mine.\n",
            "_bmad-output/implementation-artifacts/sprint-status.yaml": SPRINT_STATUS,
        },
    )


def ten_steps(repo: Path, *, goal: str = "Write part") -> Path:
    files = {
        "_bmad/core/config.yaml": "user_name: Ada\nproject_name: Tenfold\noutput_folder: docs\n",
        "_bmad/bmm/config.yaml": "output_folder: docs\n",
        "_bmad/bmm/workflows/ten/workflow.md": "---\nname: ten\ndescription: ten steps\n"
        "nextStep: './steps/step-01-part.md'\n---\n# Ten\nFollow the steps.\n",
    }
    for n in range(1, 11):
        following = f"nextStepFile: './step-{n + 1:02d}-part.md'\n" if n < 10 else ""
        files[f"_bmad/bmm/workflows/ten/steps/step-{n:02d}-part.md"] = (
            f"---\nname: step-{n:02d}\ndescription: '{goal} {n}'\n{following}"
            "outputFile: '{output_folder}/report.md'\n---\n"
            f"# Step {n}\n\nWrite part {n} of the report.\n\n## MENU\n\n[C] Continue\n"
            "HALT and wait for user input.\n"
        )
    return write(repo, files)


async def test_a_step_file_workflow_runs_to_the_end_and_keeps_steps_completed(tmp_path):
    repo = ten_steps(tmp_path / "repo")
    agent = ContextAgent()
    result = await Executor(load(repo), agent, CheckpointStore(tmp_path / "runs")).run("ten")
    assert result.status == "done" and result.steps_run == 10
    report = (repo / "docs/report.md").read_text()
    assert steps_completed(report) == list(range(1, 11))
    assert "Tenfold: write part 7, written for step step-07-part." in report
    menus = [d for d in result.decisions if d["point"] == "menu"]
    assert len(menus) == 10 and all(d["value"] == "C" and d["by"] == "policy" for d in menus)
    assert [t.kind for t in agent.calls] == ["section"] * 10


async def test_the_output_follows_the_workflow_not_a_script(tmp_path):
    first = ten_steps(tmp_path / "a")
    second = ten_steps(tmp_path / "b", goal="Summarise chapter")
    for repo in (first, second):
        await Executor(load(repo), ContextAgent(), CheckpointStore(repo / "runs")).run("ten")
    one, two = ((r / "docs/report.md").read_text() for r in (first, second))
    assert "write part 3" in one and "summarise chapter 3" in two and one != two


@pytest.mark.parametrize("version", ["6.0.4"])
async def test_the_prd_workflow_writes_the_prd_at_its_configured_path(tmp_path, version):
    repo = copy_install(version, tmp_path)
    result = await Executor(load(repo), ContextAgent(), CheckpointStore(tmp_path / "runs")).run(
        "create-prd"
    )
    assert result.status == "done"
    prd = repo / "_bmad-output/planning-artifacts/prd.md"  # planning_artifacts in its config
    text = prd.read_text()
    assert text.startswith("---\nstepsCompleted: [1, 2, 2b, 2c, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]")
    assert (
        "# Product Requirements Document - " in text
        and "{{project_name}}" not in text.split("\n## ")[0]
    )
    assert "Define comprehensive success criteria" in text  # step 3's goal, in its section
    assert list(result.outputs) == ["_bmad-output/planning-artifacts/prd.md"]


@pytest.mark.parametrize("version", ["6.0.4", "6.0.0-alpha.22"])
async def test_create_story_writes_the_story_and_updates_sprint_status(tmp_path, version):
    repo = planned(copy_install(version, tmp_path))
    result = await Executor(load(repo), ContextAgent(), CheckpointStore(tmp_path / "runs")).run(
        "create-story"
    )
    assert result.status == "done"
    story = (repo / "_bmad-output/implementation-artifacts/1-1-user-login.md").read_text()
    assert story.startswith("# Story 1.1: user-login")  # the template, filled from the run
    status = (repo / "_bmad-output/implementation-artifacts/sprint-status.yaml").read_text()
    assert "  1-1-user-login: ready-for-dev\n" in status
    assert "  epic-1: in-progress\n" in status  # the epic's first story started it
    assert "  1-2-password-reset: backlog\n" in status and status.startswith("# STATUS")


async def test_the_612_prd_skill_writes_the_prd_where_its_customization_says(tmp_path):
    repo = copy_install("6.12.0", tmp_path)
    result = await Executor(load(repo), ContextAgent(), CheckpointStore(tmp_path / "runs")).run(
        "bmad-prd"
    )
    assert result.status == "done"
    [output] = result.outputs  # {workflow.prd_output_path}/{workflow.run_folder_pattern}/prd.md
    assert output.startswith("_bmad-output/planning-artifacts/prds/prd-6.12.0-")  # its name
    assert output.endswith("/prd.md")
    text = (repo / output).read_text()
    assert "# PRD Template" in text and "## Essential Spine" in text  # from its template


async def test_asks_below_the_threshold_pause_the_run_and_a_persons_answer_resumes_it(tmp_path):
    write(
        tmp_path / "repo",
        {
            "_bmad/core/config.yaml": "user_name: Ada\n",
            "_bmad/bmm/workflows/q/workflow.yaml": "name: q\n"
            "instructions: '{installed_path}/i.xml'\n"
            "default_output_file: '{project-root}/out.md'\n",
            "_bmad/bmm/workflows/q/i.xml": "<workflow><step n='1' goal='Ask'>"
            "<ask>Which database?</ask>"
            "</step><step n='2' goal='Write'><template-output>decision</template-output></step>"
            "</workflow>",
        },
    )
    repo, store = tmp_path / "repo", CheckpointStore(tmp_path / "runs")
    strict = AutonomyPolicy(threshold=0.95)  # the test agent answers with 0.9
    paused = await Executor(load(repo), ContextAgent(), store, policy=strict).run("q")
    assert paused.status == "paused"
    [escalation] = paused.escalations
    assert escalation["question"] == "Which database?" and "below 0.95" in escalation["reason"]
    assert not (repo / "out.md").exists()
    done = await Executor(load(repo), ContextAgent(), store, policy=strict).run(
        "q", resume=True, answer="PostgreSQL"
    )
    assert done.status == "done"
    assert done.decisions[-1]["by"] == "person" and done.decisions[-1]["value"] == "PostgreSQL"
    assert (repo / "out.md").exists()


async def test_a_goto_loop_is_capped_and_reported(tmp_path):
    write(
        tmp_path / "repo",
        {
            "_bmad/core/config.yaml": "user_name: Ada\n",
            "_bmad/bmm/workflows/loop/workflow.yaml": "name: loop\n"
            "instructions: '{installed_path}/i.xml'\n",
            "_bmad/bmm/workflows/loop/i.xml": "<step n='1' goal='Spin'><action>work</action>"
            "<goto step='1'/></step><step n='2' goal='Out'><action>done</action></step>",
        },
    )
    events = []
    result = await Executor(
        load(tmp_path / "repo"),
        ContextAgent(),
        CheckpointStore(tmp_path / "runs"),
        on_event=lambda k, d: events.append((k, d)),
    ).run("loop")
    assert result.status == "done"
    assert [k for k, _ in events].count("loop-cap") == 1
    assert result.steps_run == MAX_VISITS + 2


async def test_a_changed_workflow_restarts_its_step_or_refuses_when_it_is_gone(tmp_path):
    repo = ten_steps(tmp_path / "repo")
    store = CheckpointStore(tmp_path / "runs")
    strict = AutonomyPolicy(menu_choice=())  # every menu escalates: the run pauses at step 1
    paused = await Executor(load(repo), ContextAgent(), store, policy=strict).run("ten")
    assert paused.status == "paused"
    step_one = repo / "_bmad/bmm/workflows/ten/steps/step-01-part.md"
    step_one.write_text(step_one.read_text().replace("Write part 1", "Write the intro"))
    events = []
    resumed = await Executor(
        load(repo), ContextAgent(), store, on_event=lambda k, d: events.append(k)
    ).run("ten", resume=True)
    assert resumed.status == "done" and "workflow-changed" in events
    (repo / "docs/report.md").unlink()
    again = await Executor(load(repo), ContextAgent(), store, policy=strict).run("ten")
    assert again.status == "paused"
    step_one.unlink()
    (repo / "_bmad/bmm/workflows/ten/workflow.md").write_text(
        "---\nname: ten\nnextStep: './steps/step-02-part.md'\n---\n# Ten\n"
    )
    with pytest.raises(RunError, match="no longer exists"):
        await Executor(load(repo), ContextAgent(), store).run("ten", resume=True)


def crash_run(repo: Path, data: Path, event: str, nth: int, resume: bool) -> int:
    command = [
        sys.executable,
        "-m",
        "tests.engine.crash_runner",
        str(repo),
        str(data),
        "ten",
        event,
        str(nth),
    ] + (["--resume"] if resume else [])
    return subprocess.run(command, cwd=ROOT, capture_output=True, timeout=60).returncode


@pytest.mark.slow
def test_sigkill_at_every_step_boundary_and_between_a_write_and_its_checkpoint(tmp_path):
    reference = ten_steps(tmp_path / "reference")
    (tmp_path / "ref-data").mkdir()
    assert crash_run(reference, tmp_path / "ref-data", "none", 0, resume=False) == 0
    expected = (reference / "docs/report.md").read_text()

    repo, data = ten_steps(tmp_path / "repo"), tmp_path / "data"
    data.mkdir()
    # Die after the 1st checkpoint of every run (each restart dies one step further), then
    # once right after an output is written, before its checkpoint; then finish.
    plan = [("checkpoint", 1)] * 9 + [("written", 1), ("none", 0)]
    codes = [crash_run(repo, data, event, nth, resume=n > 0) for n, (event, nth) in enumerate(plan)]
    assert codes == [-9] * 10 + [0]
    assert (repo / "docs/report.md").read_text() == expected
    calls = (data / "calls.log").read_text().splitlines()
    assert len(calls) == 10 and len(set(calls)) == 10  # no step asked of the agent twice
    writes = (data / "writes.log").read_text().splitlines()
    assert len(writes) == 10  # no output written twice
