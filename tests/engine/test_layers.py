"""The engine knows BMAD and an agent protocol, nothing else: it imports neither the agents
nor the model layer, nor what composes a run."""

from __future__ import annotations

import ast

import pytest

from tests.support import ROOT

ENGINE = sorted((ROOT / "bot/engine").glob("*.py"))
ABOVE = ("bot.agents", "bot.llm", "bot.runs", "bot.cli", "bot.web", "bot.project")


def imported(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.name)
def test_the_engine_imports_nothing_above_it(path):
    wrong = sorted(n for n in imported(path) if n.startswith(ABOVE))
    assert wrong == [], f"{path.name} imports {wrong}"
