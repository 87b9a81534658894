"""The engine's tasks done by a model: one call each, the answer in the shape asked for.

Instructions, templates and file contents reach the model as data in clearly delimited
sections; the workflow's rules sit in the stable prefix, the same bytes every call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from bot.agents.evidence import grounded, unsupported
from bot.engine.tasks import AgentUnavailable, Reply, Task
from bot.llm.errors import BudgetExceeded, LLMError
from bot.llm.metered import Metered
from bot.llm.types import Message, Request
from bot.templates import render

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "check": {
        "type": "object",
        "required": ["answer", "confidence"],
        "properties": {"answer": {"enum": ["yes", "no"]}, "confidence": {"type": "number"}},
    },
    "ask": {
        "type": "object",
        "required": ["answer", "confidence", "evidence"],
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number"},
            "evidence": {"type": "string"},  # a quote of what it was shown that supports it
        },
    },
    "act": {
        "type": "object",
        "required": ["files", "variables", "summary"],
        "properties": {"files": STRING_MAP, "variables": STRING_MAP, "summary": {"type": "string"}},
    },
}


def prompt(task: Task) -> str:
    """The task in tagged sections (markdown inside cannot end one); untrusted material in
    `data="untrusted"` sections, its closing-tag look-alikes neutralised."""
    parts: list[tuple[str, Any, bool]] = [
        ("kind", task.kind, False),
        ("goal", task.step_goal or task.step_id, False),
        ("project", task.variables.get("project_name", ""), False),
        ("instruction", task.instruction, False),
    ]
    if task.options:
        parts.append(("options", ", ".join(task.options), False))
    if task.template:
        parts.append(("template", neutral(task.template), True))
    documents = {**task.inputs, **task.documents}
    if documents:
        shown = [(_quote(name), neutral(text)) for name, text in documents.items()]
        parts.append(("documents", shown, True))
    if task.output_path:
        parts.append(("output", task.output_path, False))
    if task.notice:
        parts.append(("notice", task.notice, False))
    return render("agents/task.md.j2", parts=parts)


def system(task: Task) -> str:
    return render("agents/task_system.md.j2", agent=task.agent or "an agent")


def neutral(text: str) -> str:
    """Untrusted text that cannot close the section it sits in."""
    return text.replace("</", "<\\/")


def _quote(text: str) -> str:
    return text.replace('"', "'").replace("<", "").replace(">", "")


def schema_for(task: Task) -> Mapping[str, Any] | None:
    if task.kind == "menu":
        return {
            "type": "object",
            "required": ["choice", "reason"],
            "properties": {
                "choice": {"enum": list(task.options) or ["C"]},
                "reason": {"type": "string"},
            },
        }
    return SCHEMAS.get(task.kind)


@contextlib.contextmanager
def for_the_engine() -> Iterator[None]:
    """A model that cannot be had, as the engine's `AgentUnavailable` (it knows no models)."""
    try:
        yield
    except LLMError as exc:
        point: Literal["model", "budget"] = "budget" if isinstance(exc, BudgetExceeded) else "model"
        raise AgentUnavailable(f"{type(exc).__name__}: {exc}", point) from exc


class TaskAgent:
    """A `WorkflowAgent` backed by a (metered) model client."""

    def __init__(self, llm: Metered, *, max_tokens: int = 4096, project: str = "") -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self.project = project

    async def perform(self, task: Task) -> Reply:
        request = Request(
            system=system(task),
            stable=tuple(task.rules),
            messages=(Message("user", prompt(task)),),
            max_tokens=self.max_tokens,
            temperature=0.2 if task.kind in ("check", "ask", "menu") else None,
            response_schema=schema_for(task),
        )
        charge = {
            "project": self.project,
            "workflow": task.workflow,
            "agent": task.agent or "",
            "story": task.variables.get("story_key", ""),
        }
        with for_the_engine():
            completion = await self.llm.complete(request, charge=charge)
        data = completion.structured or {}
        if task.kind == "menu":
            return Reply(answer=str(data.get("choice", "")), text=str(data.get("reason", "")))
        if task.kind == "check":
            return Reply(answer=str(data.get("answer", "")), confidence=1.0)
        if task.kind == "ask":
            shown = (
                task.step_goal,
                task.instruction,
                *task.inputs.values(),
                *task.documents.values(),
            )
            quote = str(data.get("evidence", ""))
            if grounded(quote, *shown):
                confidence = float(data.get("confidence", 0.0))
                return Reply(answer=str(data.get("answer", "")), confidence=confidence)
            return Reply(
                answer=str(data.get("answer", "")), confidence=0.0, text=unsupported(quote)
            )
        if task.kind == "act":
            return Reply(
                text=str(data.get("summary", "")),
                files=dict(data.get("files") or {}),
                variables=dict(data.get("variables") or {}),
            )
        return Reply(text=completion.text)
