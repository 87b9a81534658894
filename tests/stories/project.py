"""A small Python project with stories, and a model whose file edits are scripted per story.

The model speaks Anthropic's protocol (the local server validates every request with the
SDK's own types); what it writes is scripted, turn by turn, for each story. Everything around
the edits is the product's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from bot.localmodel.anthropic_wire import AnthropicServer, _error
from bot.localmodel.scripted import Asked, ScriptedReply, respond
from bot.localmodel.stories import FAULT, ScriptRefused, StoryScripts, Turn

__all__ = ["FAULT", "ScriptedModel", "Turn"]

TEST_COMMAND = "python3 -m unittest discover -s tests"
OPS = "def add(a, b):\n    return a + b\n"
SPRINT_STATUS = (
    "development_status:\n  1-1-subtract: ready-for-dev\n  1-2-multiply: ready-for-dev\n"
)


def story(number: str, title: str, criteria: Sequence[str]) -> str:
    items = "\n".join(f"{n}. {c}" for n, c in enumerate(criteria, 1))
    return (
        f"# Story {number}: {title}\n\nStatus: ready-for-dev\n\n## Story\n\nAs a user I want "
        f"{title.lower()}.\n\n## Acceptance Criteria\n\n{items}\n\n## Dev Notes\n\n"
        "The code lives in `calc/ops.py`; tests in `tests/`.\n"
    )


FILES: dict[str, str | bytes | None] = {
    ".gitignore": "__pycache__/\n",
    ".github/orchestrator.yml": (
        f"sandbox:\n  test: {TEST_COMMAND}\ndeveloper:\n  iterations: 3\n  minutes: 5\n"
    ),
    ".github/workflows/ci.yml": "on: pull_request\njobs: {}\n",
    "README.md": "# calc\n",
    "calc/__init__.py": "",
    "calc/ops.py": OPS,
    "tests/__init__.py": "",
    "tests/test_add.py": (
        "import unittest\n\nfrom calc.ops import add\n\n\nclass Add(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
    ),
    "docs/architecture.md": "# Architecture\n\nPure functions in `calc/ops.py`, unittest.\n",
    "docs/sprint-status.yaml": SPRINT_STATUS,
    "docs/stories/1-1-subtract.md": story(
        "1.1", "Subtract two numbers", ["`subtract(a, b)` returns a minus b"]
    ),
    "docs/stories/1-2-multiply.md": story(
        "1.2", "Multiply two numbers", ["`multiply(a, b)` returns a times b", "it is exported"]
    ),
    "docs/stories/1-3-divide.md": story(
        "1.3", "Divide two numbers", ["`divide(a, b)` returns a over b"]
    ),
}


def unittest_file(name: str, function: str, cases: Mapping[str, str], mark: str = "AC1") -> str:
    checks = "\n".join(f"        self.assertEqual({k}, {v})" for k, v in cases.items())
    return (
        f"import unittest\n\nfrom calc.ops import {function}\n\n\n"
        f"class {name}(unittest.TestCase):\n"
        f"    # {mark}\n    def test_{function}(self):\n{checks}\n"
    )


class ScriptedModel(AnthropicServer):
    """Tool calls scripted per story and attempt (`StoryScripts`); the rest (the tool-call
    probe) answered by the rule-based model."""

    def __init__(self) -> None:
        super().__init__()
        self.scripted = StoryScripts()
        self.scripts = self.scripted.turns  # story key -> turns, one per attempt
        #: story key -> the reviewer's structured answers, one per review, in order
        self.reviews = self.scripted.reviews
        self.delay = 0.0  # seconds before each answer
        #: run before the next answer, one per request (a person acting mid-run)
        self.meanwhile: list[Callable[[], Awaitable[object]]] = []

    async def messages(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        if self.meanwhile:
            await self.meanwhile.pop(0)()
        try:
            return await super().messages(request)
        except ScriptRefused:
            return _error(400, "invalid_request_error", "scripted: the request is refused")

    def _model(self, asked: Asked) -> ScriptedReply:
        return self.scripted.answer(asked) or respond(asked)

    def story_requests(self, key: str) -> list[str]:
        """The request bodies (as text) of one story's turns, in order."""
        return [
            text for r in self.requests
            if f"story {key}" in (text := json.dumps(r)) or f"Story {key}" in text
        ]  # fmt: skip
