"""A workflow's shape in a few lines: what the golden files hold and the tests compare."""

from __future__ import annotations

from typing import Any

from bot.engine.model import Workflow


def summarize(workflow: Workflow) -> dict[str, Any]:
    steps = []
    for step in workflow.steps:
        instructions = step.all_instructions()

        def targets(kind: str, found: list = instructions) -> list[str]:
            return [i.target or "" for i in found if i.kind == kind]

        entry: dict[str, Any] = {"id": step.id}
        if step.next:
            entry["next"] = list(step.next)
        if step.attrs.get("branches"):
            entry["branches"] = step.attrs["branches"].split(",")
        for key, kind in (
            ("gotos", "goto"),
            ("template_outputs", "template-output"),
            ("invokes", "invoke"),
        ):
            if found := targets(kind):
                entry[key] = found
        for key, kind in (
            ("asks", "ask"),
            ("menus", "menu"),
            ("halts", "halt"),
            ("checks", "check"),
        ):
            if count := sum(i.kind == kind for i in instructions):
                entry[key] = count
        steps.append(entry)
    return {
        "name": workflow.name,
        "format": workflow.format,
        "agent": workflow.agent,
        "steps": steps,
    }
