"""todo: one plain-text to-do list per directory."""

from __future__ import annotations

import sys
from pathlib import Path

LIST = Path("TODO.txt")


def load() -> list[str]:
    return LIST.read_text().splitlines() if LIST.exists() else []


def main(argv: list[str]) -> int:
    items = load()
    if argv[:1] == ["add"] and len(argv) > 1:
        items.append("[ ] " + " ".join(argv[1:]))
    elif argv[:1] == ["list"]:
        for number, item in enumerate(items, 1):
            if item.startswith("[ ]"):
                print(number, item[4:])
        return 0
    else:
        print("usage: todo add TEXT | todo list", file=sys.stderr)
        return 2
    LIST.write_text("\n".join(items) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
