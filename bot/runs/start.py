"""`/ao start WORKFLOW [key=value …]`: what was asked for, or why it cannot be started.

Pure: the workflow is looked up in the project as the default branch has it, and a problem
comes back as the answer a person reads (nothing is queued, nothing is changed).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence

from bot.engine.loader import Project
from bot.engine.report import errors_of
from bot.templates import render

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_VALUE = 500


@dataclasses.dataclass(frozen=True)
class Start:
    """A run a person asked for: the workflow by the name the project knows it by."""

    workflow: str
    overrides: dict[str, str]


class StartRefused(ValueError):
    """The command cannot start a run; the message is the answer for the person."""


def parse(args: Sequence[str]) -> tuple[str, dict[str, str]]:
    """(the workflow as typed, the key=value settings), or StartRefused with the usage."""
    if not args:
        raise StartRefused(render("runs/start_usage.md.j2", problem="Which workflow?"))
    overrides: dict[str, str] = {}
    for arg in args[1:]:
        key, sep, value = arg.partition("=")
        if not sep or not _KEY.match(key) or not value or len(value) > MAX_VALUE:
            shown = re.sub(r"[^\w.=:-]", "", arg)[:60]
            raise StartRefused(
                render("runs/start_usage.md.j2", problem=f"`{shown}` is not `key=value`.")
            )
        overrides[key] = value
    return args[0], overrides


def resolve(project: Project, args: Sequence[str]) -> Start:
    """The run `/ao start` asks for on this project, or StartRefused saying why not."""
    typed, overrides = parse(args)
    shown = re.sub(r"[^\w.:-]", "", typed)[:80]
    if choices := project.choices(typed):
        raise StartRefused(render("runs/start_ambiguous.md.j2", name=shown, choices=choices))
    workflow = project.workflow(typed)
    if workflow is None:
        names = sorted(w.name for w in project.workflows)
        close = difflib.get_close_matches(typed.lower(), names, n=5, cutoff=0.5)
        raise StartRefused(
            render("runs/start_unknown.md.j2", name=shown, close=close, count=len(names))
        )
    errors = errors_of(project, workflow)
    if errors:
        raise StartRefused(
            render("runs/start_invalid.md.j2", name=workflow.name, errors=[str(e) for e in errors])
        )
    return Start(workflow.name, overrides)
