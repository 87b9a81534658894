"""A run's stops for people and its limits, through the real agents and the local model server:
an ask below the threshold pauses the run, the repository's threshold decides, an agent that
runs out of room has not finished its step, and step files that go round in a circle stop."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from bot import cli
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import MAX_VISITS, Executor
from bot.engine.loader import load
from tests.engine.context_agent import ContextAgent
from tests.engine.test_messy_repositories import write
from tests.support import ROOT

SMOKE = ROOT / "tests/fixtures/smoke"


def asking(repo: Path, threshold: float | None = None, *, instruction: str = "") -> Path:
    """A one-step workflow whose step asks a question, then writes a section."""
    files = {
        "_bmad/core/config.yaml": "user_name: Ada\nproject_name: Stacker\n",
        "_bmad/bmm/workflows/stack/workflow.yaml": "name: stack\n"
        "instructions: '{installed_path}/instructions.xml'\n"
        "default_output_file: '{project-root}/docs/stack.md'\n",
        "_bmad/bmm/workflows/stack/instructions.xml": "<workflow><step n='1' goal='Pick a stack'>"
        f"{instruction}<ask>Which database should the app use?</ask>"
        "<template-output>stack</template-output></step></workflow>",
    }
    if threshold is not None:
        files[".github/orchestrator.yml"] = (
            f"agents:\n  default: anthropic:claude-haiku-4-5\nescalation_threshold: {threshold}\n"
        )
    return write(repo, files)


def model_env(server) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "test-key",
        "ORCHESTRATOR_ALLOWED_MODELS": "anthropic:claude-haiku-4-5",
    }


async def orchestrator(capsys, *argv: str, env: dict[str, str]) -> tuple[int, str]:
    # In a thread: `run` has its own event loop, and the model server runs on this one.
    code = await asyncio.to_thread(cli.main, ["run", *argv], env)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_an_ask_below_the_threshold_pauses_the_run_with_an_escalation(
    anthropic_server, tmp_path, capsys
):
    # The model answers with confidence 0.9; the team wants 0.95 before the bot decides.
    repo = asking(tmp_path / "repo", threshold=0.95)
    code, out = await orchestrator(
        capsys, "stack", "--repo", str(repo), "--llm", "anthropic:claude-haiku-4-5",
        "--data-dir", str(tmp_path / "data"), env=model_env(anthropic_server),
    )  # fmt: skip
    assert "Traceback" not in out
    assert code == 3, out
    assert "paused: 1 steps run" in out
    assert "escalation at stack:1" in out and "0.90 is below the threshold" in out
    assert not (repo / "docs/stack.md").exists()  # the step re-runs once a person answers


async def test_the_repository_threshold_lets_a_confident_enough_agent_answer(
    anthropic_server, tmp_path, capsys
):
    repo = asking(tmp_path / "repo", threshold=0.85)
    code, out = await orchestrator(
        capsys, "stack", "--repo", str(repo), "--llm", "anthropic:claude-haiku-4-5",
        "--data-dir", str(tmp_path / "data"), env=model_env(anthropic_server),
    )  # fmt: skip
    assert code == 0, out
    assert "↳ ask: answer" in out and (repo / "docs/stack.md").exists()


def recorded_ask(tmp_path: Path, confidence: float) -> Path:
    """A recording whose ask is answered with `confidence`, then the section."""
    task = {"workflow": "stack", "step_id": "1", "step_goal": "Pick a stack", "template": None,
            "options": [], "output_path": None}  # fmt: skip
    lines = [
        {"task": {**task, "kind": "ask", "instruction": "Which database should the app use?"},
         "reply": {"answer": "SQLite", "confidence": confidence, "text": "one file"}},
        {"task": {**task, "kind": "section", "instruction": "Write the section 'stack'",
                  "output_path": "docs/stack.md"},
         "reply": {"text": "SQLite, in one file."}},
    ]  # fmt: skip
    path = tmp_path / f"ask-{confidence}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def test_one_threshold_governs_asks_whatever_answers_them(tmp_path, capsys):
    # The team accepts answers from 0.5: an answer at 0.6 goes on (the engine's own default,
    # 0.75, must not overrule the repository), and at 0.4 it is a person's to give.
    for confidence, expected in ((0.6, 0), (0.4, 3)):
        repo = asking(tmp_path / f"repo-{confidence}", threshold=0.5)
        code, out = await orchestrator(
            capsys, "stack", "--repo", str(repo), "--llm",
            f"replay:{recorded_ask(tmp_path, confidence)}",
            "--data-dir", str(tmp_path / f"data-{confidence}"), env={},
        )  # fmt: skip
        assert code == expected, out
    assert "0.40 below 0.50" in out


async def test_an_agent_that_runs_out_of_iterations_has_not_finished_its_step(
    anthropic_server, tmp_path, capsys
):
    # The step names more files than the tool loop has iterations: the agent reads one per
    # turn and never says it is done. That step must not be written or checkpointed as done.
    many = "".join(f"Read `docs/part-{n}.md`. " for n in range(14))
    repo = asking(tmp_path / "repo", threshold=0.5, instruction=f"<action>{many}</action>")
    write(repo, {f"docs/part-{n}.md": f"part {n}\n" for n in range(14)})
    data = tmp_path / "data"
    code, out = await orchestrator(
        capsys, "stack", "--repo", str(repo), "--llm", "anthropic:claude-haiku-4-5",
        "--data-dir", str(data), env=model_env(anthropic_server),
    )  # fmt: skip
    assert code == 3, out
    assert "escalation at stack:1" in out and "iteration limit after 12 iteration(s)" in out
    checkpoint = json.loads(next((data / "runs").glob("*.json")).read_text())
    assert checkpoint["status"] == "paused" and checkpoint["completed"] == []
    assert checkpoint["escalations"][-1]["point"] == "unfinished"
    assert not (repo / "docs/stack.md").exists()


def circle(repo: Path) -> Path:
    """step-01 → step-02 → step-01: the step files link in a circle."""
    shutil.copytree(SMOKE / "repo", repo)
    steps = repo / "_bmad/bmm/workflows/brief/steps"
    (steps / "step-03-scope.md").unlink()
    text = (steps / "step-02-users.md").read_text()
    (steps / "step-02-users.md").write_text(
        text.replace("nextStepFile: './step-03-scope.md'", "nextStepFile: './step-01-vision.md'")
    )
    return repo


async def test_step_files_in_a_circle_pause_after_the_visit_cap(tmp_path):
    repo = circle(tmp_path / "repo")
    agent = ContextAgent()
    project = load(repo)
    project.diagnostics.clear()  # the executor's own cap, as if validation had not seen it
    result = await Executor(project, agent, CheckpointStore(tmp_path / "runs")).run("brief")
    assert result.status == "paused"
    # Each step file is run once; later rounds find it in the output's stepsCompleted and
    # skip it, and neither way goes round more than the cap allows.
    assert result.steps_run == 2 and len(agent.calls) == 2
    skips = [e for e in result.events if '"skipped"' in e]
    assert len(skips) == 2 * MAX_VISITS - 1
    assert result.escalations[-1]["point"] == "loop"
    assert "entered 6 times through its links" in result.escalations[-1]["reason"]


def test_validate_reports_the_circle_and_run_refuses_it(tmp_path, capsys):
    repo = circle(tmp_path / "repo")
    assert cli.main(["workflows", "validate", str(repo)], environ={}) == 1
    out = capsys.readouterr().out
    assert "link in a circle (step-01-vision → step-02-users → step-01-vision)" in out
    assert "0 of 1 valid" in out
    code = cli.main(
        ["run", "brief", "--repo", str(repo), "--llm", f"replay:{SMOKE / 'recording.jsonl'}",
         "--data-dir", str(tmp_path / "data")], environ={},
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "brief has 1 error(s) and is not run" in out and "link in a circle" in out
    assert "done:" not in out and not (repo / "docs").exists()


def test_the_smoke_fixture_replays_from_its_recording(tmp_path, capsys):
    # CI's plain-install smoke run uses this recording; a change to the engine's tasks shows
    # here first (re-record with `python -m tests.fixtures.smoke.record`).
    repo = shutil.copytree(SMOKE / "repo", tmp_path / "repo")
    code = cli.main(
        ["run", "brief", "--repo", str(repo), "--llm", f"replay:{SMOKE / 'recording.jsonl'}",
         "--data-dir", str(tmp_path / "data")], environ={},
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "done: 3 steps run" in out and (repo / "docs/brief.md").exists()
