"""Writing a workflow's outputs: template sections filled, and BMAD's `stepsCompleted` kept.

An output starts as the workflow's template with the values the engine knows filled in; each
`template-output` puts the agent's section where the template's `{{section}}` placeholder is,
or appends it. Markdown outputs carry `stepsCompleted` in their front matter, as BMAD's own
workflows keep it, so a person continuing in their editor and the bot can hand a run over.
Edits are textual: what people wrote elsewhere in the file stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from bot.engine.variables import expand

_FRONT = re.compile(r"\A---\n(.*?\n)?---\n", re.DOTALL)
_STEPS_LINE = re.compile(r"^stepsCompleted:.*(?:\n[ \t]+-.*)*", re.MULTILINE)
_STEP_NUMBER = re.compile(r"^step-(?:[a-z]-)?(\d+)([a-z]?)-")


def start(template: str | None, values: Mapping[str, Any]) -> str:
    """A new output: the template with the known values filled, placeholders kept."""
    return expand(template, values, placeholders=True) if template else ""


def put_section(text: str, section: str | None, content: str) -> str:
    """The agent's content where `{{section}}` stands, else appended at the end."""
    if section:
        placeholder = re.compile(r"\{\{\s*" + re.escape(section) + r"\s*\}\}")
        if placeholder.search(text):
            return placeholder.sub(lambda _m: content.strip(), text, count=1)
    body = text.rstrip("\n")
    return f"{body}\n\n{content.strip()}\n" if body else f"{content.strip()}\n"


def step_marker(step_id: str) -> int | str:
    """How BMAD records a step in `stepsCompleted`: `step-02-…` is 2, `step-01b-…` is '1b'."""
    match = _STEP_NUMBER.match(step_id)
    if match:
        number, letter = int(match.group(1)), match.group(2)
        return f"{number}{letter}" if letter else number
    return int(step_id) if step_id.isdigit() else step_id


def steps_completed(text: str) -> list[Any]:
    front = _FRONT.match(text)
    if not front:
        return []
    try:
        data = yaml.safe_load(front.group(1) or "") or {}
    except yaml.YAMLError:
        return []
    found = data.get("stepsCompleted") if isinstance(data, dict) else None
    return list(found) if isinstance(found, list) else []


def mark_completed(text: str, marker: int | str) -> str:
    """`stepsCompleted` in the front matter with `marker` added (front matter made if none)."""
    done = steps_completed(text)
    if marker not in done:
        done.append(marker)
    line = "stepsCompleted: " + yaml.safe_dump(done, default_flow_style=True).strip()
    front = _FRONT.match(text)
    if not front:
        return f"---\n{line}\n---\n\n{text}"
    block = front.group(1) or ""
    if _STEPS_LINE.search(block):
        block = _STEPS_LINE.sub(lambda _m: line, block, count=1)
    else:
        block = f"{block}{line}\n"
    return f"---\n{block}---\n{text[front.end() :]}"
