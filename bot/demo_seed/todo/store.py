"""The list: one item a line in TODO.txt in the current directory, `[ ] ` open, `[x] ` done."""

from __future__ import annotations

from pathlib import Path

LIST = Path("TODO.txt")
OPEN, DONE = "[ ] ", "[x] "


def load() -> list[str]:
    return LIST.read_text().splitlines() if LIST.exists() else []


def save(items: list[str]) -> None:
    LIST.write_text("".join(f"{item}\n" for item in items))
