"""The autonomy policy: what the run does where BMAD expects a person at the keyboard.

BMAD workflows stop for people: `<ask>`, the A/P/C menus at the end of step files, "HALT and
wait for user input". At each such point the policy either answers on its own — continue,
choose the option that carries on, answer from context through the agent when it is
confident enough — or raises an escalation, which pauses the run there until a person
answers. Every decision is recorded with who made it and why.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Literal

from bot.engine.tasks import Reply, StopPoint, Task

_WAIT = re.compile(
    r"wait(?:ing)? for (?:the )?(?:user(?:'s)? )?(?:input|selection|response|confirmation|reply)"
    r"|halt and wait|do not proceed until|until (?:the )?user (?:selects|confirms|responds)",
    re.IGNORECASE,
)
#: Menu options that mean "carry on", in BMAD's usual letters.
CONTINUE_OPTIONS = ("C", "Y")


Outcome = Literal["continue", "answer", "choose", "escalate"]
DecidedBy = Literal["policy", "agent", "person"]
#: The stops the policy decides (others come from the executor and the agents).
PolicyPoint = Literal["ask", "menu", "halt"]


@dataclasses.dataclass(frozen=True)
class Decision:
    point: StopPoint
    outcome: Outcome
    value: str | None
    reason: str
    by: DecidedBy
    step: str = ""
    question: str = ""


@dataclasses.dataclass(frozen=True)
class AutonomyPolicy:
    """How autonomously a run goes on; `threshold` is the agent's confidence needed to answer."""

    threshold: float = 0.75
    menu_choice: tuple[str, ...] = CONTINUE_OPTIONS
    answer_asks: bool = True
    continue_on_wait: bool = True

    async def decide(
        self, kind: PolicyPoint, task: Task, perform: Callable[[Task], Awaitable[Reply]]
    ) -> Decision:
        """Decide at a stop for a person; `perform` is the run's own way to ask its agent, so
        an agent that needs a person (or a model that cannot be had) pauses the run."""
        where, question = f"{task.workflow}:{task.step_id}", task.instruction
        if kind == "menu":
            choice = next((o for o in self.menu_choice if o in task.options), None)
            if choice is not None:
                return Decision(
                    "menu",
                    "choose",
                    choice,
                    f"[{choice}] carries the workflow on",
                    "policy",
                    where,
                    question,
                )
            return Decision(
                "menu", "escalate", None, "no option that carries on", "policy", where, question
            )
        if kind == "halt":
            if self.continue_on_wait and _WAIT.search(question):
                return Decision(
                    "halt",
                    "continue",
                    None,
                    "a pause for a person at the keyboard; the run goes on",
                    "policy",
                    where,
                    question,
                )
            return Decision(
                "halt",
                "escalate",
                None,
                "the workflow stops here for a person",
                "policy",
                where,
                question,
            )
        if not self.answer_asks:
            return Decision("ask", "escalate", None, "asks go to people", "policy", where, question)
        reply = await perform(task)
        if reply.answer is not None and reply.confidence >= self.threshold:
            return Decision(
                "ask",
                "answer",
                reply.answer,
                reply.text or "answered from context",
                "agent",
                where,
                question,
            )
        return Decision(
            "ask",
            "escalate",
            reply.answer,
            f"confidence {reply.confidence:.2f} below {self.threshold:.2f}",
            "agent",
            where,
            question,
        )
