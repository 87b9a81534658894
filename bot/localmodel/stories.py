"""A developer's and a reviewer's answers scripted per story, for the local model.

A rule-based model cannot write a story's code; where a story's edits are scripted (the demo's
stories, a test's), this answers its developer turns with the scripted tool calls, attempt by
attempt, and its reviews with the scripted findings. What the request asks decides which: the
story key in its task, `attempt N of` in it, a review's `findings` schema. Everything else
goes to the rules (`respond`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from bot.localmodel.scripted import Asked, ScriptedReply

#: The tool calls of one developer turn, in order.
Turn = list[tuple[str, dict[str, Any]]]

_KEY = re.compile(r"story\s+(\d+-\d+-[\w-]+)", re.IGNORECASE)
_ATTEMPT = re.compile(r"attempt (\d+) of")
FINE = {"summary": "Reads well; nothing to change.", "findings": []}
#: A scripted step that makes the model refuse the request, as the API does with a 400.
FAULT: tuple[str, dict[str, Any]] = ("(fault)", {})


class ScriptRefused(Exception):
    """Raised for a FAULT step: the server answers 400 instead."""


@dataclasses.dataclass
class StoryScripts:
    """Developer turns per story (one list of tool calls per attempt; the last one repeats)
    and reviews per story (one structured answer per review; the last one repeats)."""

    turns: dict[str, list[Turn]] = dataclasses.field(default_factory=dict)
    reviews: dict[str, list[Mapping[str, Any]]] = dataclasses.field(default_factory=dict)

    def answer(self, asked: Asked) -> ScriptedReply | None:
        """The scripted answer to this request, or None where nothing is scripted for it."""
        first = next((text for role, text in asked.messages if role == "user"), "")
        found = _KEY.search(first)
        if found is None:
            return None
        key = found.group(1)
        if asked.schema is not None and "findings" in str(asked.schema):
            answers = self.reviews.get(key) or [FINE]
            return ScriptedReply(
                structured=dict(answers.pop(0) if len(answers) > 1 else answers[0])
            )
        if key not in self.turns or not asked.tools:
            return None
        attempt = _ATTEMPT.search(first)
        turns = self.turns[key]
        turn = turns[min(int(attempt.group(1)) if attempt else 1, len(turns)) - 1]
        made = sum(
            1 for role, text in asked.messages
            if role == "assistant" and text.startswith("(called ")
        )  # fmt: skip
        if made < len(turn):
            if turn[made] == FAULT:
                raise ScriptRefused
            return ScriptedReply(tool=turn[made])
        return ScriptedReply(tool=("done", {"summary": "done"}))
