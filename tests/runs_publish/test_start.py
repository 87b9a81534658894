"""`/ao start`: the workflow a person names on the project as its default branch has it, or
an answer that says why not and changes nothing."""

from __future__ import annotations

import shutil

import pytest

from bot.engine.loader import load
from bot.runs.start import Start, StartRefused, resolve
from tests.agents.test_escalations_and_limits import circle
from tests.support import ROOT

SMOKE = ROOT / "tests/fixtures/smoke/repo"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load(shutil.copytree(SMOKE, tmp_path_factory.mktemp("p") / "repo"))


def refusal(project, *args: str) -> str:
    with pytest.raises(StartRefused) as refused:
        resolve(project, args)
    return str(refused.value)


def test_a_known_workflow_with_settings_starts(project):
    assert resolve(project, ["brief", "mode=yolo", "story_key=1-2"]) == Start(
        "brief", {"mode": "yolo", "story_key": "1-2"}
    )
    assert resolve(project, ["BRIEF"]).workflow == "brief"


def test_unknown_names_list_the_close_ones(project):
    assert "Did you mean:\n- `/ao start brief`" in refusal(project, "breif")
    assert "no workflow `deploy` among its 1 workflows" in refusal(project, "deploy")
    # What is typed is echoed tamed: it is untrusted text in a public comment.
    assert "@everyone" not in refusal(project, "<img src=x>@everyone")


def test_bad_arguments_are_explained(project):
    assert "Which workflow?" in refusal(project)
    assert "`novalue` is not `key=value`" in refusal(project, "brief", "novalue")
    assert "is not `key=value`" in refusal(project, "brief", "=x")
    assert "is not `key=value`" in refusal(project, "brief", "k=" + "v" * 600)


def test_a_workflow_with_errors_is_not_started(tmp_path):
    text = refusal(load(circle(tmp_path / "repo")), "brief")
    assert "`brief` has problems that stop it from running" in text
    assert "link in a circle" in text


def test_the_status_comment_names_the_persona_at_work(project):
    from bot.runs.worker import _persona

    workflow = project.workflow("brief")
    # The smoke install ships no agents and no agent's menu offers `brief`: the agents'
    # runner gives its steps to the generalist, and the status comment says so.
    assert workflow.agent is None
    assert _persona(project, workflow) == "Ada (Engineer)"
