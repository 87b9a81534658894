"""Is a loaded workflow one the executor can run, and run safely?

Every goto and step link lands on a step; the workflow has steps; and no path it names —
variables, outputs, invoked workflows — leads outside the repository or to a URL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.engine.files import PathRefused, RepoFiles
from bot.engine.model import Diagnostic, Source, Workflow
from bot.engine.variables import expand

_PATH_KEYS = re.compile(
    r"(^|[._])(path|file|folder|dir|template|instructions|validation|config_source|"
    r"artifacts|knowledge|output)s?$"
)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def validate(workflow: Workflow, values: Mapping[str, Any], files: RepoFiles) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    if not workflow.steps:
        found.append(Diagnostic("error", workflow.entry, "no steps found"))
    for step_id, count in Counter(s.id for s in workflow.steps).items():
        if count > 1:
            step = next(s for s in workflow.steps if s.id == step_id)
            found.append(
                Diagnostic(
                    "warning",
                    step.source,
                    f"step {step_id!r} appears {count} times; gotos reach the first",
                )
            )
    for step in workflow.steps:
        for target in step.next:
            if workflow.step(target) is None:
                found.append(
                    Diagnostic(
                        "error",
                        step.source,
                        f"links to step {target!r}, which is not part of the workflow",
                    )
                )
        for instruction in step.all_instructions():
            if instruction.kind == "goto" and instruction.target:
                found += _goto_problems(workflow, instruction.target, instruction.source)
            if instruction.kind in ("template-output", "invoke") and instruction.target:
                found += _path_problems(instruction.target, values, files, instruction.source)
    found += _cycle_problems(workflow)
    for key, raw in workflow.variables.items():
        if isinstance(raw, str) and _PATH_KEYS.search(key):
            where = Source(
                workflow.entry.path, files.line_of(files.root / workflow.entry.path, key)
            )
            found += _path_problems(raw, values, files, where, key)
    return found


def _cycle_problems(workflow: Workflow) -> list[Diagnostic]:
    """Step files hand over through their first link (`nextStepFile`); a chain that comes back
    to a step it passed never ends (the executor would call the model until the budget runs
    out), so it is an error."""
    if workflow.format == "workflow.yaml" or not workflow.steps:
        return []
    seen: list[str] = []
    step = workflow.steps[0]
    while step.next and step.attrs.get("prose") == "true":
        seen.append(step.id)
        following = workflow.step(step.next[0])
        if following is None:
            return []
        if following.id in seen:
            circle = " → ".join([*seen[seen.index(following.id) :], following.id])
            return [
                Diagnostic(
                    "error",
                    step.source,
                    f"the step files link in a circle ({circle}): the run would never end",
                )
            ]
        step = following
    return []


def _goto_problems(workflow: Workflow, target: str, where: Source) -> list[Diagnostic]:
    """A goto to a missing step is a warning, as BMAD ships some: the run does not stop there."""
    if workflow.step(target) is not None:
        return []
    landing = workflow.goto_target(target)
    if landing is not None:
        return [
            Diagnostic(
                "warning",
                where,
                f"goto step {target!r}, which does not exist; it lands on step {landing.id!r}",
            )
        ]
    return [
        Diagnostic(
            "warning",
            where,
            f"goto step {target!r}, which does not exist; the run goes on with the next step",
        )
    ]


def _path_problems(
    reference: str,
    values: Mapping[str, Any],
    files: RepoFiles,
    where: Source,
    key: str | None = None,
) -> list[Diagnostic]:
    text = expand(reference, values).strip().replace("\\", "/")
    label = f"{key} = {reference!r}" if key else repr(reference)
    if _URL.match(text):
        return [Diagnostic("error", where, f"{label} is a URL; the engine never fetches URLs")]
    if "{" in text or not ("/" in text or text.startswith((".", "~"))):
        return []  # a placeholder for the agent, or a plain name rather than a path
    if text.startswith("~"):
        return [
            Diagnostic(
                "error", where, f"{label} points into a home directory, outside the repository"
            )
        ]
    try:
        files.locate(text, base=files.root / Path(where.path).parent)
    except PathRefused as refused:
        return [Diagnostic("error", where, f"{label}: {refused}")]
    return []
