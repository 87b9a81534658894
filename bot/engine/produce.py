"""What a step must produce, and whether a reply produced it.

A `<template-output>` and a step file's declared output (`outputFile`) must get content; a
file an instruction names as what it writes ("copy the template to `X`", "append … to `Y`",
"save to {output_file}") must exist afterwards. Menus, loading config and checks name no such
file and are never held.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.engine.tasks import Reply

_WRITES = re.compile(
    r"\b(?:write|writes|save|saves|saved|copy|append|create|creates|store)\b"
    r"(?:[^\n.]|\.(?=\w)){0,160}?\b(?:to|into|at|in)\b:?\s+`?"
    r"(?P<path>\{[\w.-]+\}[^\s`'\",;()<>]*)",
    re.IGNORECASE,
)
_FILE = re.compile(r"[^/]\.[A-Za-z0-9]{1,5}$")


def named_outputs(text: str, expand: Callable[[str], str]) -> tuple[str, ...]:
    """The files an instruction, as written, says it writes. Only paths that start from a
    variable count (`{output_folder}/x.md`, `{outputFile}`): those are the repository's;
    a bare `references/x.md` is the skill's own. A variable nobody has set names none."""
    found = (expand(m.group("path")).rstrip(".:") for m in _WRITES.finditer(text))
    return tuple(dict.fromkeys(p for p in found if "{" not in p and _FILE.search(p)))


def contributed(reply: Reply) -> bool:
    """Whether a reply gave anything to write: a section's text or a file."""
    return bool(reply.text.strip()) or any(content.strip() for content in reply.files.values())
