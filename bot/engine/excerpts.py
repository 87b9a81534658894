"""What of a long document an agent is handed: its start, and a mark saying what was left out.

Real sprint-status files reach 70 KB. An agent is shown the first `MAX_INPUT_CHARS` characters
(cut at a line's end), then how much is missing and where, so it reads the rest through its
tools instead of working from half a file it takes for the whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.templates import render

MAX_INPUT_CHARS = 20_000


def excerpt(text: str, paths: Sequence[str]) -> str:
    """`text` (the contents of `paths`, joined) as an agent is shown it."""
    if len(text) <= MAX_INPUT_CHARS:
        return text
    shown = text[:MAX_INPUT_CHARS]
    end = shown.rfind("\n")
    if end >= MAX_INPUT_CHARS // 2:
        shown = shown[: end + 1]
    mark = render(
        "engine/document_cut.md.j2",
        left_out=len(text) - len(shown),
        total=len(text),
        lines=shown.count("\n") + (not shown.endswith("\n")),
        paths=list(paths),
    )
    return f"{shown.rstrip()}\n\n{mark}\n"
