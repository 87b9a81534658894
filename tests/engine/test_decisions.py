"""Conditions the engine decides itself, the autonomy policy, and invoked workflows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.autonomy import AutonomyPolicy
from bot.engine.checkpoint import CheckpointStore
from bot.engine.conditions import decide
from bot.engine.executor import Executor
from bot.engine.loader import load
from bot.engine.tasks import Reply, Task
from tests.engine.context_agent import ContextAgent
from tests.engine.test_messy_repositories import write


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("{{story_path}} is provided", {"story_path": "docs/s.md"}, True),
        ("{{story_path}} is provided", {}, False),  # nobody gave it in an autonomous run
        ("story_path is not provided", {}, True),
        ("{{notes}} is empty", {"notes": ""}, True),
        ("{{sprint_status}} file exists", {"sprint_status": "here.yaml"}, True),
        ("{{sprint_status}} file does not exist", {"sprint_status": "here.yaml"}, False),
        ("{{sprint_status}} file exists", {"sprint_status": "gone.yaml"}, False),
        ("mode == 'update'", {"mode": "update"}, True),
        ("mode != update", {"mode": "update"}, False),
        ("{{resume}} is true", {"resume": "yes"}, True),
        ("user chooses 'q'", {}, None),  # for the agent to answer
        ("__import__('os').system('x') == 1", {}, None),  # never evaluated
    ],
)
def test_conditions_the_engine_decides(condition, values, expected):
    assert decide(condition, values, lambda path: path == "here.yaml") is expected


class Unsure:
    async def perform(self, task: Task) -> Reply:
        return Reply(answer="maybe", confidence=0.4)


async def test_the_policy_continues_chooses_answers_or_escalates():
    task = Task("menu", "w", "1", "g", "Pick", options=("A", "P", "C"))
    policy = AutonomyPolicy()
    assert (await policy.decide("menu", task, Unsure().perform)).value == "C"
    no_continue = Task("menu", "w", "1", "g", "Pick", options=("R", "X"))
    assert (await policy.decide("menu", no_continue, Unsure().perform)).outcome == "escalate"
    wait = Task("halt", "w", "1", "g", "HALT and wait for user input")
    assert (await policy.decide("halt", wait, Unsure().perform)).outcome == "continue"
    stop = Task("halt", "w", "1", "g", "HALT - User needs to run sprint-planning")
    assert (await policy.decide("halt", stop, Unsure().perform)).outcome == "escalate"
    ask = Task("ask", "w", "1", "g", "Which stack?")
    unsure = await policy.decide("ask", ask, Unsure().perform)
    assert unsure.outcome == "escalate" and "0.40 below 0.75" in unsure.reason
    lenient = AutonomyPolicy(threshold=0.3)
    assert (await lenient.decide("ask", ask, Unsure().perform)).value == "maybe"


async def test_an_invoked_workflow_runs_on_the_stack_and_its_caller_goes_on(tmp_path):
    write(
        tmp_path / "repo",
        {
            "_bmad/core/config.yaml": "user_name: Ada\n",
            "_bmad/bmm/workflows/outer/workflow.yaml": "name: outer\n"
            "instructions: '{installed_path}/i.xml'\n"
            "default_output_file: '{project-root}/outer.md'\n",
            "_bmad/bmm/workflows/outer/i.xml": "<step n='1' goal='Before'><template-output>a"
            "</template-output><invoke-workflow path='{project-root}/_bmad/bmm/workflows/inner/"
            "workflow.yaml'/><template-output>b</template-output></step>"
            "<step n='2' goal='After'><template-output>c</template-output></step>",
            "_bmad/bmm/workflows/inner/workflow.yaml": "name: inner\n"
            "instructions: '{installed_path}/i.xml'\n"
            "default_output_file: '{project-root}/inner.md'\n",
            "_bmad/bmm/workflows/inner/i.xml": "<step n='1' goal='Inside'><template-output>x"
            "</template-output></step>",
        },
    )
    agent = ContextAgent()
    result = await Executor(load(tmp_path / "repo"), agent, CheckpointStore(tmp_path / "runs")).run(
        "outer"
    )
    assert result.status == "done"
    assert [(t.workflow, t.step_id) for t in agent.calls] == [
        ("outer", "1"),
        ("inner", "1"),
        ("outer", "1"),
        ("outer", "2"),
    ]
    assert sorted(result.outputs) == ["inner.md", "outer.md"]


class Escaping:
    """An agent that tries to write outside the repository (as injected text might ask)."""

    async def perform(self, task: Task) -> Reply:
        return Reply(
            text="x",
            files={
                "../outside.md": "pwned",
                "/tmp/abs.md": "pwned",
                "docs/fine.md": "ok",
                ".github/workflows/x.yml": "on: push",
                ".git/hooks/pre-commit": "pwned",
            },
        )


async def test_an_agent_cannot_write_outside_the_repository(tmp_path):
    write(
        tmp_path / "repo",
        {
            "_bmad/core/config.yaml": "user_name: Ada\n",
            "_bmad/bmm/workflows/w/workflow.yaml": "name: w\n"
            "instructions: '{installed_path}/i.xml'\n",
            "_bmad/bmm/workflows/w/i.xml": "<step n='1' goal='g'>"
            "<action>write things</action></step>",
        },
    )
    events = []
    result = await Executor(
        load(tmp_path / "repo"),
        Escaping(),
        CheckpointStore(tmp_path / "runs"),
        on_event=lambda k, d: events.append((k, d)),
    ).run("w")
    assert result.status == "done"
    assert not (tmp_path / "outside.md").exists() and not Path("/tmp/abs.md").exists()
    assert (tmp_path / "repo/docs/fine.md").read_text() == "ok"
    refused = [d["path"] for k, d in events if k == "write-refused"]
    assert refused == [
        "../outside.md",
        "/tmp/abs.md",
        ".github/workflows/x.yml",
        ".git/hooks/pre-commit",
    ]
