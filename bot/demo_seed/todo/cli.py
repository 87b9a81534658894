"""`todo COMMAND ...`: each command is a module of todo.commands with `run(items, args)`."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from todo import commands, store


def names() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(commands.__path__))


def main(argv: list[str]) -> int:
    known = names()
    if not argv or argv[0] not in known:
        print(f"usage: todo {' | '.join(known) or 'COMMAND'} ...", file=sys.stderr)
        return 2
    command = importlib.import_module(f"todo.commands.{argv[0]}")
    items = store.load()
    code = int(command.run(items, argv[1:]))
    if code == 0:
        store.save(items)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
