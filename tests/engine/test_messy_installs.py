"""More repositories as people really have them (issue 14): installs at the root, modules
that share workflow names, skills in several editor folders, mixed agent generations, and a
variable-expansion bomb."""

from __future__ import annotations

import asyncio
import resource

from bot import cli
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor
from bot.engine.loader import load
from tests.engine.context_agent import ContextAgent
from tests.engine.test_messy_repositories import WORKFLOW_YAML, bmad, write

ROOT_MANIFEST = "installation:\n  version: 6.0.0-alpha.12\nmodules:\n  - core\n  - bmm\n"


def cli_run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv), environ={})
    return code, capsys.readouterr().out


def test_a_root_install_whose_manifest_names_the_projects_old_folder(tmp_path, capsys):
    repo = bmad(
        tmp_path / "renamed-clone",
        ".",
        **{
            "_cfg/manifest.yaml": ROOT_MANIFEST,
            "_cfg/workflow-manifest.csv": "name,description,module,path\n"
            '"make-notes","Notes","bmm","MyProject/bmm/workflows/make-notes/workflow.yaml"\n',
        },
    )
    project = load(repo)
    assert [w.name for w in project.workflows] == ["make-notes"]
    assert project.workflow("make-notes").entry.path == "bmm/workflows/make-notes/workflow.yaml"
    assert not any("not installed" in d.message for d in project.diagnostics)
    code, out = cli_run(capsys, "workflows", "validate", str(repo))
    assert code == 0 and "1 of 1 valid" in out


def test_a_manifest_of_which_nothing_loads_is_an_error(tmp_path, capsys):
    repo = write(
        tmp_path,
        {
            "_cfg/manifest.yaml": ROOT_MANIFEST,
            "core/config.yaml": "bmad_folder: .\n",
            "bmm/config.yaml": "user_name: Ada\n",
            "_cfg/workflow-manifest.csv": "name,description,module,path\n"
            '"a","A","bmm","Elsewhere/bmm/workflows/a/workflow.yaml"\n'
            '"b","B","bmm","Elsewhere/bmm/workflows/b/workflow.yaml"\n',
        },
    )
    [error] = load(repo).errors
    assert str(error.source) == "_cfg/workflow-manifest.csv:1"
    assert "list 2 workflows, tasks or skills and none of them loads" in error.message
    code, out = cli_run(capsys, "workflows", "validate", str(repo))
    assert code == 1 and "none of them loads" in out


def two_modules(root):
    gds_config = "user_name: Ada\noutput_folder: game-docs\n"
    return bmad(
        root,
        **{
            "_bmad/gds/config.yaml": gds_config,
            "_bmad/gds/workflows/make-notes/workflow.yaml": WORKFLOW_YAML.replace(
                "/bmm/", "/gds/"
            ).replace("Write notes", "Write game notes"),
            "_bmad/gds/workflows/make-notes/instructions.xml": "<workflow><step n='1' "
            "goal='Write'><template-output file='{default_output_file}'>notes"
            "</template-output></step></workflow>",
            "_bmad/gds/workflows/make-notes/template.md": "# Game notes\n",
        },
    )


def test_the_same_workflow_in_two_modules_is_known_by_module(tmp_path, capsys):
    repo = two_modules(tmp_path / "repo")
    project = load(repo)
    assert sorted(w.name for w in project.workflows) == ["bmm:make-notes", "gds:make-notes"]
    bmm, gds = project.variables["bmm:make-notes"], project.variables["gds:make-notes"]
    assert bmm["installed_path"].endswith("_bmad/bmm/workflows/make-notes")
    assert gds["installed_path"].endswith("_bmad/gds/workflows/make-notes")
    assert gds["default_output_file"] == "game-docs/notes-{{current_year}}.md"
    assert bmm["default_output_file"] == "docs/notes/notes-{{current_year}}.md"
    assert project.workflow("make-notes") is None
    assert project.workflow("GDS:make-notes").description == "Write game notes"
    assert project.workflow("bmm:make-notes").module == "bmm"

    code, out = cli_run(capsys, "workflows", "list", "--repo", str(repo))
    rows = [line.split()[0] for line in out.splitlines() if "make-notes/" in line]
    assert rows == ["bmm:make-notes", "gds:make-notes"]
    code, out = cli_run(capsys, "run", "make-notes", "--repo", str(repo), "--llm", "replay:x")
    assert code == 2
    assert "name one of: bmm:make-notes, gds:make-notes" in out

    executor = Executor(project, ContextAgent(), CheckpointStore(tmp_path / "runs"))
    result = asyncio.run(executor.run("gds:make-notes"))
    assert [p.split("/")[0] for p in result.outputs] == ["game-docs"]


def test_a_skill_installed_for_several_editors_is_listed_once(tmp_path, capsys):
    skill = "---\nname: notes\ndescription: Notes\n---\n# Notes\nWrite the notes.\n"
    folders = (".claude/skills", ".agents/skills", ".github/skills")
    repo = write(tmp_path, {f"{folder}/notes/SKILL.md": skill for folder in folders})
    project = load(repo)
    [notes] = project.workflows
    assert notes.entry.path == ".claude/skills/notes/SKILL.md"
    assert notes.copies == (".github/skills", ".agents/skills")
    code, out = cli_run(capsys, "workflows", "list", "--repo", str(repo))
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith("notes ")]
    assert row.endswith("(also in .github/skills, .agents/skills)")


AGENT_SKILL = """\
---
name: bmad-agent-pm
description: Product manager for PRD creation.
---

# John

## Overview

This skill provides a Product Manager who drives PRD creation. Act as John — a relentless
questioner.

## Identity

Product management veteran with 8+ years launching products.

## Communication Style

Asks "WHY?" relentlessly.

## Principles

- PRDs emerge from user interviews.
- Ship the smallest thing that validates the assumption.

## Capabilities

| Code | Description | Skill |
|------|-------------|-------|
| CP | Produce your Product Requirements Document | bmad-create-prd |
| EP | Update an existing PRD | bmad-edit-prd |
"""
COMPILED_PM = """\
# pm
```xml
<agent id="pm.agent.yaml" name="Old John" title="Product Manager">
<persona><role>PM</role><identity>Old</identity></persona>
<menu><item cmd="*prd" workflow="x">PRD</item></menu>
</agent>
```
"""


def test_agent_skills_without_customize_toml_are_personas_listed_once(tmp_path):
    write(
        tmp_path,
        {
            "_bmad/core/config.yaml": "user_name: Ada\n",
            "_bmad/bmm/config.yaml": "user_name: Ada\n",
            "_bmad/bmm/agents/pm.md": COMPILED_PM,  # left over from a 6.0 install
            "_bmad/bmm/agents/dev.md": COMPILED_PM.replace("Old John", "Amelia").replace(
                "pm.agent", "dev.agent"
            ),
            ".claude/skills/bmad-agent-pm/SKILL.md": AGENT_SKILL,
            # what SKILL.md does not say, the agent manifest does
            ".claude/skills/bmad-agent-analyst/SKILL.md": "# Mary\n\n## Identity\n\nAnalyst.\n",
            "_bmad/_config/manifest.yaml": ROOT_MANIFEST,
            "_bmad/_config/agent-manifest.csv": "name,displayName,title,module,canonicalId\n"
            '"analyst","Mary","Business Analyst","bmm","bmad-agent-analyst"\n',
            # a 6.2 launcher: loads the compiled agent, is no persona of its own
            ".claude/skills/bmad-agent-bmm-dev/SKILL.md": "---\nname: bmad-agent-bmm-dev\n"
            "description: dev\n---\n1. LOAD the FULL agent file from "
            "{project-root}/_bmad/bmm/agents/dev.md\n",
        },
    )
    project = load(tmp_path)
    assert [(a.id, a.name) for a in project.agents] == [
        ("bmad-agent-analyst", "Mary"),
        ("bmad-agent-pm", "John"),
        ("dev", "Amelia"),
    ]
    analyst, pm = project.agents[:2]
    assert (analyst.title, analyst.module) == ("Business Analyst", "bmm")
    assert pm.title == "Product Manager"
    assert pm.identity == "Product management veteran with 8+ years launching products."
    assert pm.communication_style == 'Asks "WHY?" relentlessly.'
    assert pm.principles == (
        "PRDs emerge from user interviews.",
        "Ship the smallest thing that validates the assumption.",
    )
    assert [(m.trigger, m.target) for m in pm.menu] == [
        ("CP", "bmad-create-prd"),
        ("EP", "bmad-edit-prd"),
    ]


def test_a_variable_expansion_bomb_is_bounded_and_reported(tmp_path, capsys):
    bomb = "".join(f'v{n}: "{("{v" + str(n - 1) + "}") * 9}"\n' for n in range(1, 10))
    text = WORKFLOW_YAML + 'v0: "lol"\n' + bomb
    assert len(bomb) < 400
    repo = bmad(tmp_path, **{"_bmad/bmm/workflows/make-notes/workflow.yaml": text})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, out = cli_run(capsys, "workflows", "validate", str(repo))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert code == 1
    assert grown_kib < 200_000, f"validate grew by {grown_kib} KiB"
    line = WORKFLOW_YAML.count("\n") + 1 + 5  # v5 (3 x 9**5) is the first past the bound
    assert (
        f"_bmad/bmm/workflows/make-notes/workflow.yaml:{line}: error: variable 'v5' would "
        "expand to more than 100,000 characters" in out
    )
