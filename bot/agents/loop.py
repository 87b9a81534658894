"""The tool loop: an agent works a step through its tools until it says it is done.

The step's instruction, its template and the files it was shown reach the model in
delimited sections, the untrusted ones marked DATA. The loop ends when the agent calls
`done` or answers without a tool call, or at the iteration or output-token limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from bot.agents.decisions import Answer, Decider
from bot.agents.personas import Persona
from bot.agents.task_agent import prompt
from bot.agents.tools import TOOLS, Workspace, run_tool
from bot.engine.tasks import Escalation, Task
from bot.llm.metered import Metered
from bot.llm.types import Message, Request
from bot.templates import render


class NeedsPerson(Escalation):
    """A question the decisions could not answer confidently enough: a person must."""

    def __init__(self, decision: Answer) -> None:
        super().__init__(
            decision.question,
            f"confidence {decision.confidence:.2f} is below "
            f"the threshold ({decision.source}: {decision.reasoning})",
        )
        self.decision = decision


@dataclasses.dataclass
class LoopResult:
    text: str
    files: dict[str, str]
    iterations: int
    stopped: Literal["done", "answer", "iterations", "tokens"]
    decisions: list[Answer]


def system_prompt(persona: Persona) -> str:
    """Who the agent is, then how it works through its tools."""
    return render("agents/loop_system.md.j2", persona=persona.prompt())


async def work(
    llm: Metered,
    persona: Persona,
    task: Task,
    workspace: Workspace,
    decider: Decider,
    *,
    max_iterations: int = 12,
    max_output_tokens: int = 32_000,
    on_progress: Callable[[str], None] | None = None,
) -> LoopResult:
    system = system_prompt(persona)
    messages: list[Message] = [Message("user", prompt(task))]
    decisions: list[Answer] = []
    spent, text = 0, ""
    charge = {
        "workflow": task.workflow,
        "agent": persona.id,
        "story": task.variables.get("story_key", ""),
    }
    for iteration in range(1, max_iterations + 1):
        request = Request(
            system, tuple(messages), stable=tuple(task.rules), tools=TOOLS, max_tokens=4096
        )
        completion = await llm.complete(request, charge=charge)
        spent += completion.usage.output_tokens
        text = completion.text or text
        if not completion.tool_calls:
            return LoopResult(text, dict(workspace.writes), iteration, "answer", decisions)
        messages.append(Message("assistant", completion.text, completion.tool_calls))
        for call in completion.tool_calls:
            arguments = dict(call.arguments)
            if call.name == "done":
                return LoopResult(
                    str(arguments.get("summary", text)),
                    dict(workspace.writes),
                    iteration,
                    "done",
                    decisions,
                )
            if call.name == "ask":
                decision = await decider.decide(
                    str(arguments.get("question", "")), task.instruction[:4000], charge=charge
                )
                decisions.append(decision)
                if decision.escalated:
                    raise NeedsPerson(decision)
                result = f"Answer ({decision.source}): {decision.answer}"
            elif call.name == "report_progress":
                if on_progress is not None:
                    on_progress(str(arguments.get("text", "")))
                result = "noted"
            else:
                result = run_tool(workspace, call.name, arguments)
            messages.append(Message("tool", result, tool_call_id=call.id))
        if spent >= max_output_tokens:
            return LoopResult(text, dict(workspace.writes), iteration, "tokens", decisions)
    return LoopResult(text, dict(workspace.writes), max_iterations, "iterations", decisions)
