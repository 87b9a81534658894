"""Which test covers which acceptance criterion: the `# AC<n>` marks in the branch's tests.

The developer is asked to mark each test with the criterion it proves; the pull request lists
each criterion with the tests marked for it, and says so plainly where none is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

_MARK = re.compile(r"\bAC\s*#?(\d+)\b")
_TEST = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)|\b(?:it|test)\(\s*['\"]([^'\"]+)['\"]")
#: How far below a mark the test it labels may start (a mark above the `def`).
_REACH = 3


def is_test_file(relative: str) -> bool:
    path = PurePosixPath(relative)
    return (
        "tests" in path.parts
        or "test" in path.parts
        or path.name.startswith("test_")
        or path.stem.endswith(("_test", ".test", ".spec"))
    )


def covering(worktree: Path, changed: Iterable[str]) -> dict[int, list[str]]:
    """criterion number -> the tests (`path::name`) marked for it, among `changed` files."""
    found: dict[int, list[str]] = defaultdict(list)
    for relative in changed:
        path = worktree / relative
        if not is_test_file(relative) or not path.is_file():
            continue
        lines = path.read_text(errors="replace").splitlines()
        current = ""
        for index, line in enumerate(lines):
            name = _test_name(line)
            if name:
                current = name
            marks = [int(n) for n in _MARK.findall(line)]
            if not marks:
                continue
            below = next(
                (n for ln in lines[index : index + _REACH + 1] if (n := _test_name(ln))), None
            )
            above = line.strip().startswith(("#", "//")) and below
            test = name or (below if above else None) or current
            for number in marks:
                label = f"{relative}::{test}" if test else relative
                if label not in found[number]:
                    found[number].append(label)
    return dict(found)


def _test_name(line: str) -> str | None:
    match = _TEST.search(line)
    return (match.group(1) or match.group(2)) if match else None
