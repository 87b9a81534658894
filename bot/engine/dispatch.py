"""Dispatch on instruction kind: each kind of BMAD instruction, done; an unknown kind is an
error, and mypy checks that every kind has its branch."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Never, NoReturn

from bot.engine import conditions, outputs, produce
from bot.engine.autonomy import Decision, PolicyPoint
from bot.engine.context import RunError
from bot.engine.model import Instruction, Step, Workflow
from bot.engine.redo import StepBoundaries
from bot.engine.tasks import AgentUnavailable, Escalation, Reply, Task
from bot.templates import render

_OPTION = re.compile(r"\[([A-Z0-9]{1,3})\]")
#: A step entered more often than this by gotos is a loop: the goto is reported and skipped.
MAX_VISITS = 5


class StepEscalated(Exception):
    """The step stops for a person; the run pauses with the decision."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


class JumpTo(Exception):
    """A goto: the step ends here and the run goes on at `step`."""

    def __init__(self, step: Step) -> None:
        super().__init__(step.id)
        self.step = step


class InvokeWorkflow(Exception):
    """The step hands over to another workflow, which runs on top of this one."""

    def __init__(self, workflow: Workflow) -> None:
        super().__init__(workflow.name)
        self.workflow = workflow


class Dispatch(StepBoundaries):
    """The instructions of a step, each by its kind."""

    _answered: str | None = None  # a person's answer to the escalation resumed from
    _guidance: str | None = None  # a person's answer where the step had produced nothing

    async def _instruction(self, workflow: Workflow, step: Step, instruction: Instruction) -> None:
        kind = instruction.kind
        if (
            instruction.condition
            and kind != "check"
            and not await self._holds(workflow, step, instruction.condition)
        ):
            return
        match kind:
            case "check":
                if await self._holds(workflow, step, instruction.condition or instruction.text):
                    for child in instruction.children:
                        await self._instruction(workflow, step, child)
            case "act":
                await self._act(workflow, step, instruction.text)
            case "goto":
                self._goto(workflow, instruction)
            case "template-output":
                await self._template_output(workflow, step, instruction)
            case "invoke":
                await self._invoke(workflow, step, instruction)
            case "output":
                self._event(
                    self.checkpoint,
                    "output",
                    step=f"{workflow.name}:{step.id}",
                    text=self._expand(instruction.text),
                )
            case "ask" | "halt" | "menu":
                await self._decide(kind, workflow, step, instruction.text, _options(instruction))
            case "critical":
                pass  # a rule: every task of the workflow carries it (`Task.rules`)
            case _:
                _unknown(kind, instruction)

    async def _holds(self, workflow: Workflow, step: Step, condition: str) -> bool:
        known = conditions.decide(condition, self.values, self._exists)
        if known is not None:
            return known
        reply = await self._perform(
            self._task("check", workflow, step, f"Is this true? {condition}")
        )
        return (reply.answer or "").strip().lower() in ("yes", "true", "y")

    async def _act(self, workflow: Workflow, step: Step, text: str) -> None:
        task = self._task("act", workflow, step, text)
        named = produce.named_outputs(text, self._relative)
        reply = await self._held(task, lambda r: self._lacking(named, r))
        self._take(reply.files, reply.variables)

    def _goto(self, workflow: Workflow, instruction: Instruction) -> None:
        target = workflow.goto_target(instruction.target or "")
        frame = self.checkpoint.stack[-1]
        if target is None:
            self._event(
                self.checkpoint,
                "goto-missing",
                target=instruction.target,
                at=str(instruction.source),
            )
            return
        visits = frame.visits.get(target.id, 0)
        if visits >= MAX_VISITS:
            self._event(
                self.checkpoint,
                "loop-cap",
                target=target.id,
                visits=visits,
                at=str(instruction.source),
            )
            return
        frame.visits[target.id] = visits + 1
        raise JumpTo(target)

    async def _template_output(
        self, workflow: Workflow, step: Step, instruction: Instruction
    ) -> None:
        has_file = instruction.tag == "template-output" and instruction.target != instruction.text
        target = instruction.target if has_file else self._default_output(workflow)
        section = instruction.text.strip() or None
        if target is None:
            self._event(self.checkpoint, "no-output", at=str(instruction.source))
            return
        path = self._output_path(target)
        template = self._template_text(workflow, step)
        relative = self.files.relative(path)
        reply = await self._held(
            self._task(
                "section",
                workflow,
                step,
                f"Write the section {section!r}" if section else step.goal,
                template=self._template_section(
                    outputs.start(template, self.values) if template else None, section
                ),
                output_path=relative,
            ),
            lambda r: [] if produce.contributed(r) else [relative],
        )
        current = self._read(path)
        text = outputs.start(template, self.values) if current is None else current
        self._write(path, outputs.put_section(text, section, reply.text))
        self._take(reply.files, reply.variables)

    async def _invoke(self, workflow: Workflow, step: Step, instruction: Instruction) -> None:
        target = self._expand(instruction.target or instruction.text)
        if target.strip() == "discover_inputs":
            self._discover_inputs(workflow)
            return
        invoked = self._find_workflow(target)
        if invoked is None or invoked.name == workflow.name:
            await self._act(workflow, step, self._expand(instruction.text or target))
            return
        raise InvokeWorkflow(invoked)

    async def _decide(
        self,
        kind: PolicyPoint,
        workflow: Workflow,
        step: Step,
        text: str,
        options: tuple[str, ...],
    ) -> Decision:
        if self._answered is not None:  # a person answered the escalation this resumes from
            answered, self._answered = self._answered, None
            return Decision(kind, "answer", answered, "answered by a person", "person")
        task = self._task(kind, workflow, step, self._expand(text), options=options)
        decision = await self.policy.decide(kind, task, self._perform)
        self.checkpoint.decisions.append(dataclasses.asdict(decision))
        self._event(self.checkpoint, "decision", **dataclasses.asdict(decision))
        if decision.outcome == "escalate":
            raise StepEscalated(decision)
        return decision

    async def _prose_step(self, workflow: Workflow, step: Step) -> None:
        """A step file (or a skill) is one piece of work for one agent: the whole text, then
        its menus and halts for the autonomy policy, then its part of the output."""
        text = "\n\n".join(i.text for i in step.instructions if i.kind == "act")
        output = next((i for i in step.instructions if i.kind == "template-output"), None)
        if output is not None and output.target:
            path = self._output_path(output.target)
            relative = self.files.relative(path)
            template = self._template_text(workflow, step)
            shown = outputs.start(template, self.values) if template else None
            task = self._task(
                "section", workflow, step, self._expand(text), template=shown, output_path=relative
            )
            others = [n for n in produce.named_outputs(text, self._relative) if n != relative]
            reply = await self._held(
                task,
                lambda r: ([] if produce.contributed(r) else [relative]) + self._lacking(others, r),
            )
            current = self._read(path)
            base = outputs.start(template, self.values) if current is None else current
            written = outputs.put_section(base, None, reply.text) if reply.text else base
            self._write(path, outputs.mark_completed(written, outputs.step_marker(step.id)))
            self._take(reply.files, reply.variables)
        else:
            template = self._template_text(workflow, step)
            shown = outputs.start(template, self.values) if template else None
            task = self._task("act", workflow, step, self._expand(text), template=shown)
            named = produce.named_outputs(text, self._relative)
            reply = await self._held(task, lambda r: self._lacking(named, r))
            self._take(reply.files, reply.variables)
        # The step's menu is one choice, however many sections describe it; its HALTs are
        # that menu's wait. Halts in a step without a menu, and asks, are decided one by one.
        menus = [i for i in step.instructions if i.kind == "menu"]
        if menus:
            options = tuple(dict.fromkeys(o for m in menus for o in _options(m)))
            await self._decide("menu", workflow, step, menus[0].text, options)
        for instruction in step.instructions:
            if instruction.kind == "ask" or (instruction.kind == "halt" and not menus):
                await self._decide(instruction.kind, workflow, step, instruction.text, ())

    async def _perform(self, task: Task) -> Reply:
        """The agent's work. When the model cannot be had — unavailable after retries, the
        budget spent, a reply never as asked — the run pauses with an escalation instead of
        failing, and `--resume` goes on from this step."""
        try:
            return await self.agent.perform(task)
        except AgentUnavailable as exc:
            raise StepEscalated(_model_trouble(task, exc)) from exc
        except Escalation as exc:
            where = f"{task.workflow}:{task.step_id}"
            raise StepEscalated(
                Decision(exc.point, "escalate", None, exc.reason, "agent", where, exc.question)
            ) from exc

    async def _held(self, task: Task, lacking: Callable[[Reply], list[str]]) -> Reply:
        """Work that must produce something is done only when it has: a reply that produced
        nothing is asked again once, saying so, then the run pauses for a person, whose answer
        goes to the agent when the step is done again."""
        if self._guidance is not None:
            answer, self._guidance = self._guidance, None
            task = dataclasses.replace(task, notice=render("engine/guidance.md.j2", answer=answer))
        reply = await self._perform(task)
        missing = lacking(reply)
        if not missing:
            return reply
        where = f"{task.workflow}:{task.step_id}"
        self._event(self.checkpoint, "unproduced", step=where, missing=missing)
        notice = render("engine/unproduced.md.j2", missing=missing)
        reply = await self._perform(dataclasses.replace(task, notice=notice))
        missing = lacking(reply)
        if not missing:
            return reply
        question = render(
            "engine/unproduced_question.md.j2",
            agent=task.agent or "the agent",
            missing=missing,
            where=where,
        )
        reason = f"nothing produced for {', '.join(missing)}, asked twice"
        decision = Decision("unproduced", "escalate", None, reason, "policy", where, question)
        raise StepEscalated(decision)


def _model_trouble(task: Task, exc: AgentUnavailable) -> Decision:
    return Decision(
        exc.point,
        "escalate",
        None,
        str(exc),
        "policy",
        f"{task.workflow}:{task.step_id}",
        task.instruction[:300],
    )


def _options(instruction: Instruction) -> tuple[str, ...]:
    if instruction.target and instruction.kind == "menu":
        return tuple(instruction.target.split(","))
    return tuple(dict.fromkeys(_OPTION.findall(instruction.text)))


def _unknown(kind: Never, instruction: Instruction) -> NoReturn:
    """An instruction kind no branch handles: a loader bug, never skipped in silence."""
    raise RunError(f"{instruction.source}: unknown instruction kind {kind!r}")
