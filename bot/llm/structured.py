"""Structured output on servers that support less of it: `json_schema`, else `json_object`,
else JSON asked for in the prompt. Which one a server takes is learned by what happens."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from bot.templates import render

Mode = Literal["json_schema", "json_object", "prompt"]
#: What to try when a server answers a request in one mode with an error status.
FALLBACK: Mapping[Mode, Mode] = {"json_schema": "json_object", "json_object": "prompt"}
_FENCE = re.compile(r"^```(?:json)?\s*\n(.*?)\n```\s*$", re.DOTALL)


def instructions(schema: Mapping[str, Any]) -> str:
    """The schema in words, for the modes where the server does not enforce it."""
    return render("llm/json_answer.md.j2", schema=json.dumps(dict(schema), sort_keys=True))


def response_format(mode: Mode, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": dict(schema)}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def parse(text: str) -> Any:
    """The JSON value a reply holds: the whole text, a fenced block, or the outermost object
    in it; None when there is none (the schema check then says what is wrong)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    candidates = [stripped, fenced.group(1) if fenced else ""]
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None
