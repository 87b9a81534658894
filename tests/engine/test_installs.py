"""The installs BMAD's own installer makes load completely, validate, and read as hand-checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import VERSIONS, install_path
from tests.engine.summaries import summarize

GOLDEN = Path(__file__).parent / "golden"


def denominator(version: str, project) -> set[str]:
    """What the installer's manifests list; for the alpha (no manifests), every workflow file
    under the module folders."""
    manifests = project.installation.manifests
    if manifests:
        rows = manifests.get("workflow", []) + manifests.get("task", [])
        names = {row["name"] for row in rows}
        names |= {row["canonicalId"] for row in manifests.get("skill", [])}
        return names
    root = install_path(version) / "_bmad"
    found = set()
    for path in root.rglob("*"):
        if path.is_file() and (
            path.name == "workflow.yaml"
            or (
                path.name.startswith("workflow")
                and path.suffix == ".md"
                and not path.parent.name.startswith("steps")
            )
        ):
            found.add(path.relative_to(install_path(version)).as_posix())
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_everything_the_installer_lists_loads_and_validates(installed, version):
    project = installed(version)
    wanted = denominator(version, project)
    if project.installation.manifests:
        loaded = {w.name for w in project.workflows}
    else:
        loaded = {w.entry.path for w in project.workflows}
    assert wanted and wanted <= loaded, sorted(wanted - loaded)
    assert project.errors == []
    assert all(w.steps for w in project.workflows)


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_summaries(installed, golden):
    version, name = golden.stem.split("--")
    workflow = installed(version).workflow(name)
    assert workflow is not None
    assert summarize(workflow) == json.loads(golden.read_text())


def test_the_shipped_front_matter_defect_is_a_warning_not_a_refusal(installed):
    project = installed("6.0.4")
    defect = "create-prd/steps-v/step-v-07-implementation-leakage-validation.md"
    [warning] = [d for d in project.diagnostics if d.source.path.endswith(defect)]
    assert warning.severity == "warning" and "front matter is not valid YAML" in warning.message
    step = project.workflow("validate-prd").step("step-v-07-implementation-leakage-validation")
    assert step is not None and step.next == ("step-v-08-domain-compliance-validation",)


def test_personas_and_owners_in_each_generation(installed):
    old, new, alpha = installed("6.0.4"), installed("6.12.0"), installed("6.0.0-alpha.22")
    names = {a.id: a.name for a in old.agents}
    assert names["sm"] == "Bob" and names["pm"] == "John" and names["analyst"] == "Mary"
    assert old.workflow("create-story").agent == "sm"
    assert old.workflow("create-prd").agent == "pm"
    assert {a.name for a in new.agents} >= {"Mary", "John", "Winston", "Amelia"}
    assert new.workflow("bmad-prd").agent == "bmad-agent-pm"  # from John's menu
    assert "Bob" not in {a.name for a in new.agents}  # no scrum master in 6.12 …
    assert new.workflow("bmad-sprint-planning").agent in {a.id for a in new.agents}  # … yet owned
    assert alpha.workflow("testarch-atdd").agent == "tea"  # Murat, from an *.agent.yaml menu
    pm = next(a for a in new.agents if a.id == "bmad-agent-pm")
    assert pm.principles and any(item.target == "bmad-prd" for item in pm.menu)


def test_variables_are_resolved_from_config_and_system_values(installed):
    project = installed("6.0.4")
    values = project.variables["create-story"]
    root = str(install_path("6.0.4").resolve())
    assert values["user_name"] not in ("", "{config_source}:user_name")
    assert (
        values["sprint_status"]
        == f"{root}/_bmad-output/implementation-artifacts/sprint-status.yaml"
    )
    assert values["installed_path"] == f"{root}/_bmad/bmm/workflows/4-implementation/create-story"
    assert values["date"].count("-") == 2 and values["current_year"].isdigit()
    assert values["default_output_file"].endswith("/{{story_key}}.md")  # the agent's to fill


def test_skill_variables_come_from_customize_toml(installed):
    values = installed("6.12.0").variables["bmad-prd"]
    assert any(key.startswith("workflow.") for key in values)
