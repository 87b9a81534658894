"""What `orchestrator workflows list|validate` print: tables a person can read in a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.engine.loader import Project
from bot.engine.model import Diagnostic, Workflow


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def summary(project: Project) -> str:
    install = project.installation
    if install.root is None and not install.skill_folders:
        kind = "a BMAD v4 install (not supported)" if install.v4 else "no BMAD install"
        return f"{kind} in {project.repository}"
    where = install.root or ", ".join(str(f) for f in install.skill_folders)
    version = install.version or "(version not recorded)"
    parts = [f"BMAD {version} in {where}"]
    if install.modules:
        parts.append(f"modules: {', '.join(install.modules)}")
    if project.agents:
        parts.append("agents: " + ", ".join(f"{a.name} ({a.id})" for a in project.agents))
    return "; ".join(parts)


def _agent_name(project: Project, workflow: Workflow) -> str:
    agent = next((a for a in project.agents if a.id == workflow.agent), None)
    return f"{agent.name} ({agent.id})" if agent else "-"


def list_lines(project: Project) -> list[str]:
    rows = [("workflow", "format", "steps", "agent", "entry")]
    for workflow in sorted(project.workflows, key=lambda w: (w.module or "", w.name)):
        rows.append(
            (
                workflow.name,
                workflow.format,
                str(len(workflow.steps)),
                _agent_name(project, workflow),
                workflow.entry.path
                + (f" (also in {', '.join(workflow.copies)})" if workflow.copies else ""),
            )
        )
    return [summary(project), "", *table(rows)]


def belongs(diagnostic: Diagnostic, workflow: Workflow) -> bool:
    path = diagnostic.source.path
    return path == workflow.entry.path or (
        bool(workflow.root) and path.startswith(workflow.root.rstrip("/") + "/")
    )


def errors_of(project: Project, workflow: Workflow) -> list[Diagnostic]:
    """The errors found in a workflow's own files: a workflow with any is not run."""
    return [d for d in project.errors if belongs(d, workflow)]


def validate_lines(project: Project, only: Path | None = None) -> tuple[list[str], bool]:
    """The validation table and every problem with file:line; True when there is no error."""
    workflows = project.workflows
    if only is not None:
        wanted = project.repository.resolve()
        relative = (
            only.resolve().relative_to(wanted).as_posix()
            if only.resolve().is_relative_to(wanted)
            else only.as_posix()
        )
        workflows = [w for w in workflows if w.entry.path == relative or w.root == relative]
    rows = [("workflow", "steps", "errors", "warnings", "result")]
    for workflow in sorted(workflows, key=lambda w: w.name):
        mine = [d for d in project.diagnostics if belongs(d, workflow)]
        errors = sum(d.severity == "error" for d in mine)
        rows.append(
            (
                workflow.name,
                str(len(workflow.steps)),
                str(errors),
                str(len(mine) - errors),
                "invalid" if errors else "valid",
            )
        )
    shown = (
        project.diagnostics
        if only is None
        else [d for d in project.diagnostics if any(belongs(d, w) for w in workflows)]
    )
    lines = [summary(project), ""]
    if len(rows) > 1:
        lines += table(rows)
    if shown:
        lines += ["", *[str(d) for d in shown]]
    problems = [d for d in shown if d.severity == "error"]
    if only is not None and not workflows:
        lines.append(f"{only}: not a workflow, task or skill entry point of this install")
        return lines, False
    total = len(workflows)
    valid = total - sum(
        1 for w in workflows if any(d.severity == "error" and belongs(d, w) for d in shown)
    )
    lines += [
        "",
        f"{valid} of {total} valid; {len(problems)} errors, {len(shown) - len(problems)} warnings",
    ]
    return lines, not problems
