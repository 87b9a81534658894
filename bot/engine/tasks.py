"""What the executor asks of an agent, and the agents that need no model: replay and record.

The executor hands every piece of work to a `WorkflowAgent` as a `Task`: the instruction with
its variables filled, the step and workflow it belongs to, the template section, the input
documents it may need. The LLM-backed agents (the agents issue) implement the same protocol.

A replay file is JSON lines, one exchange per line: `{"task": {…}, "reply": {…}}`. A task that
does not match the next recorded one fails loudly with both, so a changed workflow shows.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

#: The fields of a task that decide whether a recorded reply still fits it.
MATCHED_FIELDS = (
    "kind",
    "workflow",
    "step_id",
    "step_goal",
    "instruction",
    "template",
    "options",
    "output_path",
    "notice",
)


#: The work a task asks for: an act, a section of an output, a yes/no check, a question, a
#: menu's choice, or what a HALT means.
TaskKind = Literal["act", "section", "check", "ask", "menu", "halt"]
#: Where a run can stop for a person.
StopPoint = Literal[
    "ask", "menu", "halt", "loop", "model", "budget", "unfinished", "unproduced"
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Task:
    kind: TaskKind
    workflow: str
    step_id: str
    step_goal: str
    instruction: str  # variables filled; BMAD's {{placeholders}} left for the agent
    variables: Mapping[str, str] = dataclasses.field(default_factory=dict)
    rules: tuple[str, ...] = ()  # the workflow's and step's critical rules
    template: str | None = None  # the template section to fill ("section")
    inputs: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> document
    options: tuple[str, ...] = ()  # menu choices
    output_path: str | None = None  # repository-relative file the section goes to
    agent: str | None = None  # the owning agent's id
    documents: Mapping[str, str] = dataclasses.field(default_factory=dict)  # path -> text
    notice: str | None = None  # what the engine says of the last try (it produced nothing)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Reply:
    text: str = ""  # the work: a section's content, an answer in words
    answer: str | None = None  # "yes"/"no" for a check; the choice for an ask or a menu
    confidence: float = 1.0
    files: Mapping[str, str] = dataclasses.field(default_factory=dict)  # path -> content
    variables: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reply:
        return cls(
            text=str(data.get("text", "")),
            answer=data.get("answer"),
            confidence=float(data.get("confidence", 1.0)),
            files=dict(data.get("files") or {}),
            variables={str(k): str(v) for k, v in (data.get("variables") or {}).items()},
        )


class Escalation(Exception):
    """An agent needs a person: the run pauses at this step with the question. `point` says
    what kind of stop it is ("ask": a question; "unfinished": the agent ran out of room)."""

    def __init__(self, question: str, reason: str, point: StopPoint = "ask") -> None:
        super().__init__(reason)
        self.question = question
        self.reason = reason
        self.point = point


class AgentUnavailable(Exception):
    """The agent cannot do the work: its model cannot be had (unavailable after retries, the
    budget spent, replies never as asked). The run pauses at the step; `--resume` goes on.
    Agents raise it for their own failures, so the engine knows no model layer."""

    def __init__(self, message: str, point: Literal["model", "budget"] = "model") -> None:
        super().__init__(message)
        self.point = point


class WorkflowAgent(Protocol):
    async def perform(self, task: Task) -> Reply: ...


class TaskMismatch(Exception):
    """The workflow asked for something the recording does not have; the message diffs them."""


def matched(task: Task) -> dict[str, Any]:
    data = task.as_json()
    return {key: data[key] for key in MATCHED_FIELDS}


class ReplayAgent:
    """Answers from a recording, in order; fails loudly when the run departs from it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        self._exchanges = [json.loads(line) for line in lines]
        self._next = 0

    async def perform(self, task: Task) -> Reply:
        if self._next >= len(self._exchanges):
            raise TaskMismatch(
                f"{self.path}: the recording has {len(self._exchanges)} exchanges and the run "
                f"asks for another:\n{json.dumps(matched(task), indent=1)}"
            )
        recorded = self._exchanges[self._next]
        wanted = {k: recorded["task"].get(k) for k in MATCHED_FIELDS}
        actual = json.loads(json.dumps(matched(task)))  # tuples as lists, as recorded
        if wanted != actual:
            diff = "\n".join(
                difflib.unified_diff(
                    json.dumps(wanted, indent=1).splitlines(),
                    json.dumps(actual, indent=1).splitlines(),
                    "recorded",
                    "asked",
                    lineterm="",
                )
            )
            raise TaskMismatch(f"{self.path}: exchange {self._next + 1} differs:\n{diff}")
        self._next += 1
        return Reply.from_json(recorded["reply"])


class RecordingAgent:
    """Wraps an agent and writes every exchange to a replay file."""

    def __init__(self, agent: WorkflowAgent, path: Path) -> None:
        self._agent = agent
        self.path = path

    async def perform(self, task: Task) -> Reply:
        reply = await self._agent.perform(task)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(
                json.dumps({"task": task.as_json(), "reply": dataclasses.asdict(reply)}) + "\n"
            )
        return reply
