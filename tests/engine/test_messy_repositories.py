"""Repositories as people really have them: nothing crashes the loader, everything it cannot
use is reported with file and line, and nothing leads it outside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.engine.loader import load
from tests.engine.summaries import summarize

WORKFLOW_YAML = """\
name: make-notes
description: "Write notes"
config_source: "{project-root}/_bmad/bmm/config.yaml"
user_name: "{config_source}:user_name"
output_folder: "{config_source}:output_folder"
date: system-generated
installed_path: "{project-root}/_bmad/bmm/workflows/make-notes"
instructions: "{installed_path}/instructions.xml"
template: "{installed_path}/template.md"
default_output_file: "{output_folder}/notes-{{current_year}}.md"
"""
INSTRUCTIONS = """\
<workflow>
  <critical>Speak {communication_language}</critical>
  <step n="1" goal="Gather">
    <action>Read the brief, e.g. <value> or `a < b`</action>
    <check if="brief is missing">
      <ask>Where is the brief?</ask>
      <action>GOTO step 2a</action>
    </check>
  </step>
  <step n="2" goal="Write">
    <template-output file="{default_output_file}">notes</template-output>
    <invoke-task path="{project-root}/_bmad/core/tasks/review.xml">review</invoke-task>
  </step>
</workflow>
"""


def write(root: Path, files: dict[str, str], newline: str = "\n") -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.replace("\n", newline).encode())
    return root


def bmad(root: Path, folder: str = "_bmad", module: str = "bmm", **extra: str) -> Path:
    config = "user_name: Ada\noutput_folder: docs\\notes\ncommunication_language: Français\n"
    return write(
        root,
        {
            f"{folder}/core/config.yaml": config,
            f"{folder}/{module}/config.yaml": config,
            f"{folder}/{module}/workflows/make-notes/workflow.yaml": WORKFLOW_YAML.replace(
                "/bmm/", f"/{module}/"
            ),
            f"{folder}/{module}/workflows/make-notes/instructions.xml": INSTRUCTIONS,
            f"{folder}/{module}/workflows/make-notes/template.md": "# Notes {{current_year}}\n",
            **extra,
        },
    )


def test_a_plain_install_reads_steps_gotos_outputs_and_variables(tmp_path):
    project = load(bmad(tmp_path))
    workflow = project.workflow("make-notes")
    assert summarize(workflow)["steps"] == [
        {"id": "1", "gotos": ["2a"], "asks": 1, "checks": 1},
        {
            "id": "2",
            "template_outputs": ["{default_output_file}"],
            "invokes": ["{project-root}/_bmad/core/tasks/review.xml"],
        },
    ]
    act = workflow.steps[0].instructions[0]
    assert act.text == "Read the brief, e.g. <value> or `a < b`"  # not-XML text kept as text
    assert str(act.source) == "_bmad/bmm/workflows/make-notes/instructions.xml:4"
    values = project.variables["make-notes"]
    assert values["user_name"] == "Ada"
    assert values["output_folder"] == "docs/notes"  # a Windows path in config
    year = values["current_year"]
    assert values["default_output_file"] == "docs/notes/notes-{{current_year}}.md"
    assert year.isdigit()
    [warning] = project.diagnostics  # the goto to a renumbered step lands on step 2
    assert warning.severity == "warning" and "lands on step '2'" in warning.message
    assert str(warning.source) == "_bmad/bmm/workflows/make-notes/instructions.xml:7"


def test_crlf_and_spaces_in_module_folders_read_the_same(tmp_path):
    unix = load(bmad(tmp_path / "unix")).workflow("make-notes")
    windows = load(bmad(tmp_path / "windows", module="my module")).workflow("make-notes")
    crlf = tmp_path / "crlf"
    bmad(crlf)
    for path in crlf.rglob("*.*"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert summarize(load(crlf).workflow("make-notes")) == summarize(unix) == summarize(windows)


@pytest.mark.parametrize("folder", [".bmad", "bmad"])
def test_early_alpha_folders_and_manifests(tmp_path, folder):
    bmad(
        tmp_path,
        folder,
        **{
            f"{folder}/_cfg/manifest.yaml": "installation:\n  version: 6.0.0-alpha.3\n"
            "modules:\n  - core\n  - bmm\n"
        },
    )
    project = load(tmp_path)
    assert project.installation.version == "6.0.0-alpha.3"
    workflow = project.workflow("make-notes")
    assert workflow.entry.path.startswith(f"{folder}/")
    # `{project-root}/_bmad/…` in the workflow means the same file in this install's folder
    assert project.variables["make-notes"]["installed_path"].endswith(
        f"{folder}/bmm/workflows/make-notes"
    )
    assert project.errors == []


def test_an_install_at_the_repository_root(tmp_path):
    write(
        tmp_path,
        {
            "core/config.yaml": "user_name: Ada\n",
            "bmm/config.yaml": "x: 1\n",
            "bmm/workflows/w/workflow.md": "---\nname: w\ndescription: d\n---\n# W\nDo it.\n",
        },
    )
    project = load(tmp_path)
    assert [w.name for w in project.workflows] == ["w"]


def test_skills_only_in_an_editor_folder_and_many_languages(tmp_path):
    write(
        tmp_path,
        {
            ".github/skills/notes/SKILL.md": "---\nname: notes\ndescription: 議事録を書く\n---\n"
            "# 議事録\n\nRead `steps/step-01-start.md`.\n",
            ".github/skills/notes/steps/step-01-start.md": "---\nnextStepFile: './step-02-end.md'\n"
            "---\n# Début\nLis le brief.\n\n## MENU\n[C] Continue\n[A] Advanced\n",
            ".github/skills/notes/steps/step-02-end.md": "# Fin\nHALT and wait for user input.\n",
        },
    )
    project = load(tmp_path)
    workflow = project.workflow("notes")
    assert workflow.description == "議事録を書く"
    assert summarize(workflow)["steps"] == [
        {"id": "step-01-start", "next": ["step-02-end"], "menus": 1},
        {"id": "step-02-end", "halts": 1},
    ]
    assert project.errors == []


def test_a_v4_install_is_answered_with_the_upgrade_path(tmp_path):
    write(tmp_path, {".bmad-core/core-config.yaml": "markdownExploder: true\n"})
    project = load(tmp_path)
    [error] = project.errors
    assert "BMAD v4" in error.message and "npx bmad-method install" in error.message
    assert project.workflows == []


def test_broken_files_are_reported_with_file_and_line_and_the_rest_loads(tmp_path):
    bmad(
        tmp_path,
        **{
            "_bmad/bmm/workflows/broken/workflow.yaml": "name: broken\ninstructions: [unclosed\n",
            "_bmad/bmm/workflows/lost/workflow.yaml": "name: lost\n"
            "instructions: '{installed_path}/nope.xml'\n",
            "_bmad/bmm/workflows/binary/workflow.md": "\x00\x01\xff garbage \x00",
            "_bmad/bmm/workflows/bad-front-matter/workflow.md": "---\nname: [x\n---\n# Body\n",
        },
    )
    project = load(tmp_path)
    assert project.workflow("make-notes") is not None
    messages = {
        (d.source.path.split("/")[-2], d.source.line, d.severity): d.message
        for d in project.diagnostics
    }
    assert "not valid YAML" in messages[("broken", 3, "error")]
    assert "not found" in messages[("lost", 2, "error")]
    assert any(key[0] == "bad-front-matter" and key[2] == "warning" for key in messages)


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("template", "{project-root}/../../etc/passwd", "leads outside the repository"),
        ("template", "/etc/passwd", "leads outside the repository"),
        ("template", "C:\\Windows\\win.ini", "absolute path outside the repository"),
        ("template", "https://example.com/template.md", "never fetches URLs"),
        ("validation", "~/.ssh/id_rsa", "home directory"),
        ("instructions", "{installed_path}/../../../../../../etc/hosts", "outside the repository"),
    ],
)
def test_a_workflow_cannot_lead_the_engine_outside_the_repository(tmp_path, key, value, why):
    text = WORKFLOW_YAML.replace(f'{key}: "', f'{key}_was: "') + f"{key}: '{value}'\n"
    bmad(tmp_path, **{"_bmad/bmm/workflows/make-notes/workflow.yaml": text})
    project = load(tmp_path)
    assert any(why in e.message for e in project.errors), project.diagnostics


def test_a_symlink_out_of_the_repository_is_refused(tmp_path):
    outside = tmp_path / "outside"
    write(outside, {"secret.xml": "<workflow><step n='1'><action>leak</action></step></workflow>"})
    repo = bmad(tmp_path / "repo")
    target = repo / "_bmad/bmm/workflows/make-notes/instructions.xml"
    target.unlink()
    os.symlink(outside / "secret.xml", target)
    project = load(repo)
    assert any("outside the repository" in e.message for e in project.errors)
    assert all(
        "leak" not in i.text
        for w in project.workflows
        for s in w.steps
        for i in s.all_instructions()
    )


def test_customize_toml_overrides_merge_as_bmad_merges_them(tmp_path):
    write(
        tmp_path,
        {
            "_bmad/core/config.yaml": "user_name: Ada\n",
            "_bmad/custom/bmad-agent-pm.toml": "[agent]\nname = 'Johanna'\n"
            "principles = ['Ship it']\n"
            "[[agent.menu]]\ncode = 'PRD'\ndescription = 'Our PRD'\nskill = 'our-prd'\n",
            ".claude/skills/bmad-agent-pm/SKILL.md": "---\nname: bmad-agent-pm\n"
            "description: PM\n---\nHi\n",
            ".claude/skills/bmad-agent-pm/customize.toml": "[agent]\nname = 'John'\ntitle = 'PM'\n"
            "principles = ['Users first']\n[[agent.menu]]\ncode = 'PRD'\ndescription = 'PRD'\n"
            "skill = 'bmad-prd'\n[[agent.menu]]\ncode = 'CE'\ndescription = 'Epics'\n"
            "skill = 'bmad-epics'\n",
            "_bmad/custom/bmad-notes.toml": "[workflow]\noutput = 'docs/mine'\n",
            ".claude/skills/bmad-notes/SKILL.md": "---\nname: bmad-notes\ndescription: notes\n---\n"
            "Write to {workflow.output}\n",
            ".claude/skills/bmad-notes/customize.toml": "[workflow]\noutput = 'docs'\nextra = 1\n",
        },
    )
    project = load(tmp_path)
    [pm] = project.agents
    assert pm.name == "Johanna" and pm.principles == ("Users first", "Ship it")
    assert [(m.trigger, m.target) for m in pm.menu] == [("PRD", "our-prd"), ("CE", "bmad-epics")]
    values = project.variables["bmad-notes"]
    assert values["workflow.output"] == "docs/mine" and values["workflow.extra"] == 1


def test_no_install_at_all_says_how_to_get_one(tmp_path):
    [error] = load(tmp_path).errors
    assert "no BMAD install found" in error.message and "npx bmad-method install" in error.message
