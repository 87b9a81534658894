"""`/ao start plan`: the planning chain each BMAD generation defines, read from its install."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.engine.loader import load
from bot.project.chain import NoChain, planning_chain, read_catalogue
from tests.engine.conftest import install_path

PLAN = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "plan"


def test_the_demo_seed_plans_from_requirements_to_sprint():
    project = load(PLAN.parents[2] / "bot" / "demo_seed")
    chain = [link.workflow for link in planning_chain(project, read_catalogue(project))]
    assert chain == ["create-prd", "create-architecture", "create-epics-and-stories",
                     "sprint-planning"]  # fmt: skip


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        # no catalogue in the alphas: BMAD's order by name
        ("6.0.0-alpha.22", ["create-product-brief", "create-prd", "create-architecture",
                            "create-epics-and-stories", "sprint-planning"]),
        # 6.0.4's catalogue makes the readiness check a required step of solutioning
        ("6.0.4", ["create-product-brief", "create-prd", "create-architecture",
                   "create-epics-and-stories", "check-implementation-readiness",
                   "sprint-planning"]),
        # 6.12: skills, phases "plan" and "2-planning", the PRD preceded by the brief
        ("6.12.0", ["bmad-product-brief", "bmad-prd", "bmad-architecture",
                    "bmad-create-epics-and-stories", "bmad-sprint-planning"]),
    ],
)  # fmt: skip
def test_each_generation_plans_as_its_install_defines(version, expected):
    project = load(install_path(version))
    chain = planning_chain(project, read_catalogue(project))
    assert [link.workflow for link in chain] == expected
    # the brief is optional everywhere, the rest required
    assert [link.required for link in chain] == [False] + [True] * (len(expected) - 1)
    assert chain[0].phase in ("1-analysis", "plan") and chain[-1].phase in (
        "4-implementation",
        "plan",
    )


def catalogue(*rows: str) -> str:
    header = "module,skill,display-name,menu-code,description,action,args,phase,preceded-by,"
    return header + "followed-by,required,output-location,outputs\n" + "\n".join(rows) + "\n"


def row(skill: str, phase: str, after: str = "", required: str = "true") -> str:
    return f"BMad Method,{skill},{skill},X,d,,,{phase},{after},,{required},,"


def test_what_precedes_comes_first_and_optional_or_later_work_is_left_out():
    project = load(install_path("6.12.0"))
    text = catalogue(
        row("bmad-sprint-planning", "plan", "bmad-create-epics-and-stories"),
        row("bmad-create-epics-and-stories", "plan", "bmad-architecture"),
        row("bmad-architecture", "plan", "bmad-prd"),
        row("bmad-prd", "plan"),
        row("bmad-ux", "plan", required="false"),  # optional: not part of the chain
        row("bmad-build", "ship", "bmad-sprint-planning"),  # implementation: after the plan
        row("bmad-help", "anytime"),
    )
    chain = [link.workflow for link in planning_chain(project, text)]
    assert chain == ["bmad-prd", "bmad-architecture", "bmad-create-epics-and-stories",
                     "bmad-sprint-planning"]  # fmt: skip


def test_a_cycle_in_the_catalogue_is_ordered_as_listed_never_a_hang():
    project = load(install_path("6.12.0"))
    text = catalogue(
        row("bmad-prd", "plan", "bmad-architecture"),
        row("bmad-architecture", "plan", "bmad-prd"),
        row("bmad-sprint-planning", "plan"),
    )
    chain = [link.workflow for link in planning_chain(project, text)]
    assert chain == ["bmad-prd", "bmad-architecture", "bmad-sprint-planning"]


def test_an_install_that_cannot_plan_says_what_it_has(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(PLAN, repo)
    shutil.rmtree(repo / "_bmad/bmm/workflows/sprint-planning")
    project = load(repo)
    with pytest.raises(NoChain, match="ending in sprint planning: create-prd, create-arch"):
        planning_chain(project, read_catalogue(project))
