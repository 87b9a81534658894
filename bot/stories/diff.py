"""Reading a unified diff's patch as GitHub gives it per file: which lines of the new version
it shows (where a review comment may sit)."""

from __future__ import annotations

import re

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def right_lines(patch: str) -> set[int]:
    """The new file's line numbers the patch shows (added or context lines)."""
    shown: set[int] = set()
    line = 0
    inside = False
    for text in patch.splitlines():
        header = _HUNK.match(text)
        if header:
            line, inside = int(header.group(1)), True
            continue
        if not inside or text.startswith("\\"):
            continue
        if text.startswith("-"):
            continue
        shown.add(line)
        line += 1
    return shown
