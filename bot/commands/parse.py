"""Finding an `/ao` command in a comment: a line that starts with it, outside quotes and code."""

from __future__ import annotations

import dataclasses
import re

_FENCE = re.compile(r"^(`{3,}|~{3,})")
_COMMAND = re.compile(r"^/ao(?:[ \t]+(?P<rest>.*))?$")


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    name: str  # "" when the line is a bare `/ao`
    args: tuple[str, ...]


def find_command(body: str) -> Command | None:
    """The first command line of a comment, or None.

    Lines inside fenced code blocks, indented code, and block quotes (someone quoting an
    earlier command) are not commands.
    """
    fence: str | None = None
    for line in body.splitlines():
        stripped = line.strip()
        opener = _FENCE.match(stripped)
        if fence is not None:
            if opener and stripped.startswith(fence) and not stripped[len(fence) :].strip():
                fence = None
            continue
        if opener:
            fence = opener.group(1)
            continue
        if line.startswith(("    ", "\t")) or stripped.startswith(">"):
            continue
        match = _COMMAND.match(stripped)
        if match:
            words = (match.group("rest") or "").split()
            return Command(words[0].lower() if words else "", tuple(words[1:]))
    return None
