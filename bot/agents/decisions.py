"""Decisions: a question answered from the onboarding documents, else by the model — with a
confidence, a reason, and a line in the decision log.

An onboarding document answers a question when one of its headings, FAQ questions or rules
matches it after normalising (case, punctuation, filler words) or shares most of its words:
confidence 0.95, citing file and line. Otherwise the model answers at low temperature with
a confidence, its reasoning and a quote from the context that supports the answer. The run
goes on only when the confidence reaches the threshold and the quote is really in the
context (`evidence.grounded`); else the question is escalated to a person.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.agents.evidence import grounded, unsupported
from bot.agents.task_agent import neutral
from bot.llm.metered import Metered
from bot.llm.types import Message, Request
from bot.templates import render

ONBOARDING_CONFIDENCE = 0.95
#: Share of the question's words an entry must have to answer it.
OVERLAP = 0.6
_WORD = re.compile(r"[a-z0-9]+")
_FILLER_WORDS = (
    "a an the is are was were be do does did what which who whom how should we our us i you "
    "your to of for in on at by with and or it this that there please use using"
)
_FILLER = frozenset(_FILLER_WORDS.split())
ANSWER = {
    "type": "object",
    "required": ["answer", "confidence", "reasoning", "evidence"],
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reasoning": {"type": "string"},
        "evidence": {"type": "string"},
    },
}


@dataclasses.dataclass(frozen=True)
class OnboardingEntry:
    """A heading, FAQ question or rule, with what it says and where."""

    key: str
    answer: str
    path: str
    line: int


@dataclasses.dataclass(frozen=True)
class Answer:
    question: str
    answer: str | None
    confidence: float
    source: str  # "onboarding", "model" or "none"
    reasoning: str
    cited: str | None = None  # "docs/onboarding.md:12"
    escalated: bool = False


def words(text: str) -> set[str]:
    """Content words, lightly stemmed (deployment, deploying and deploys are one word)."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _FILLER}


def _stem(word: str) -> str:
    for suffix in ("ments", "ment", "ings", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def entries(path: Path, relative: str) -> list[OnboardingEntry]:
    """Headings with the paragraph under them, `Q:`/`A:` pairs, and list items as rules."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    found: list[OnboardingEntry] = []
    for index, line in enumerate(lines):
        text = line.strip()
        following = next(
            (
                n.strip()
                for n in lines[index + 1 : index + 6]
                if n.strip() and not n.strip().startswith("#")
            ),
            "",
        )
        if text.startswith("#"):
            found.append(OnboardingEntry(text.lstrip("# "), following, relative, index + 1))
        elif re.match(r"^(\*\*)?Q[:.]", text):
            question = re.sub(r"^(\*\*)?Q[:.]\s*(\*\*)?", "", text)
            answer = re.sub(r"^(\*\*)?A[:.]\s*(\*\*)?", "", following)
            found.append(OnboardingEntry(question, answer, relative, index + 1))
        elif text.startswith(("- ", "* ")) and ":" in text:
            key, _, value = text[2:].partition(":")
            found.append(OnboardingEntry(key, value.strip() or text[2:], relative, index + 1))
    return [e for e in found if e.answer]


class Decider:
    def __init__(
        self,
        repository: Path,
        onboarding: Sequence[str],
        llm: Metered | None,
        *,
        threshold: float = 0.75,
        log: Path | None = None,
    ) -> None:
        self.threshold = threshold
        self.llm = llm
        self.log = log
        self.entries: list[OnboardingEntry] = []
        for name in onboarding:
            path = (repository / name).resolve()
            if path.is_relative_to(repository.resolve()) and path.is_file():
                self.entries.extend(entries(path, name))

    def from_onboarding(self, question: str) -> OnboardingEntry | None:
        asked = words(question)
        if not asked:
            return None
        best, score = None, 0.0
        for entry in self.entries:
            key = words(entry.key)
            if not key:
                continue
            if key == asked:
                return entry
            overlap = len(asked & key) / len(asked)
            # Most of the question's words, or all of a short entry's and half the question's.
            strong = overlap >= OVERLAP or (key <= asked and overlap >= 0.5)
            if strong and overlap > score:
                best, score = entry, overlap
        return best

    async def decide(
        self, question: str, context: str = "", charge: Mapping[str, str] | None = None
    ) -> Answer:
        """The answer, from the onboarding documents first, then the model; logged."""
        charge_to = dict(charge or {})
        entry = self.from_onboarding(question)
        if entry is not None:
            decision = Answer(
                question,
                entry.answer,
                ONBOARDING_CONFIDENCE,
                "onboarding",
                f"the onboarding document answers it: {entry.key}",
                f"{entry.path}:{entry.line}",
            )
        elif self.llm is not None:
            decision = await self._ask_model(question, context, charge_to)
        else:
            decision = Answer(question, None, 0.0, "none", "no onboarding answer, no model")
        if decision.confidence < self.threshold:
            decision = dataclasses.replace(decision, escalated=True)
        self._log(decision)
        return decision

    async def _ask_model(self, question: str, context: str, charge_to: dict[str, str]) -> Answer:
        assert self.llm is not None
        request = Request(
            system=render("agents/decide_system.md.j2"),
            messages=(
                Message(
                    "user",
                    render("agents/decide_user.md.j2", question=question, context=neutral(context)),
                ),
            ),
            max_tokens=600,
            temperature=0.0,
            response_schema=ANSWER,
        )
        completion = await self.llm.complete(request, charge=charge_to)
        data = completion.structured or {}
        confidence, reasoning = float(data.get("confidence", 0.0)), str(data.get("reasoning", ""))
        quote = str(data.get("evidence", ""))
        if not grounded(quote, context):
            # Its number alone does not decide: nothing it cites is in what it was shown.
            reasoning = f"not trusted (it said {confidence:.2f}): {unsupported(quote)}; {reasoning}"
            confidence = 0.0
        return Answer(question, str(data.get("answer", "")), confidence, "model", reasoning)

    def _log(self, decision: Answer) -> None:
        if self.log is None:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as out:
            out.write(
                json.dumps({"at": round(time.time(), 3), **dataclasses.asdict(decision)}) + "\n"
            )
