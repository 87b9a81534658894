"""The executor: runs a loaded workflow to its end through an agent, resumable at every step.

Each step's work is done first and its file writes kept in memory; at the step's end the
writes are logged in the checkpoint, made (each atomically), and the checkpoint moves on.
A crash before the log re-runs the step (nothing of it was written); a crash after it
finishes the writes from the log without asking the agent again. So a step is never done
twice, and every output is whole.

Skill scripts (6.12's `uv run …/resolve_config.py`, `resolve_customization.py`) are not run:
the loader already gives their effect (config and customization resolved into variables),
so a run needs no interpreter, network or environment of the repository's choosing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.engine import conditions, outputs, produce
from bot.engine.autonomy import AutonomyPolicy, Decision
from bot.engine.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointStore,
    Frame,
    atomic_write,
    digest,
)
from bot.engine.confine import Confinement, confinement_for
from bot.engine.excerpts import excerpt
from bot.engine.files import PathRefused, RepoFiles
from bot.engine.loader import Project
from bot.engine.model import Instruction, Step, Workflow
from bot.engine.report import errors_of
from bot.engine.tasks import AgentUnavailable, Escalation, Reply, Task, WorkflowAgent
from bot.engine.variables import alternatives, expand
from bot.templates import render

#: A step entered more often than this by gotos is a loop: the goto is reported and skipped.
MAX_VISITS = 5
#: How many files an instruction gets.
MAX_DOCUMENTS = 6
#: Events kept in a checkpoint (the newest); the run prints them all as they happen.
MAX_EVENTS = 100
_OPTION = re.compile(r"\[([A-Z0-9]{1,3})\]")


class RunError(Exception):
    """The run cannot go on; the message says why and what to do."""


@dataclasses.dataclass
class RunOutcome:
    status: str  # "done" or "paused"
    outputs: dict[str, str]  # path -> sha256
    decisions: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    steps_run: int
    events: list[str]


class _Escalated(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


class _Jump(Exception):
    def __init__(self, step: Step) -> None:
        super().__init__(step.id)
        self.step = step


class _Invoke(Exception):
    def __init__(self, workflow: Workflow) -> None:
        super().__init__(workflow.name)
        self.workflow = workflow


class Executor:
    def __init__(
        self,
        project: Project,
        agent: WorkflowAgent,
        store: CheckpointStore,
        *,
        policy: AutonomyPolicy | None = None,
        overrides: Mapping[str, str] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        confinement: Confinement | None = None,
    ) -> None:
        self.project = project
        self.files = RepoFiles(project.repository)
        # What agents may read and write; the run's own state is never among it.
        self.confinement = confinement or confinement_for(project, hidden=[store.folder])
        self.agent = agent
        self.store = store
        self.policy = policy or AutonomyPolicy()
        self.overrides = dict(overrides or {})
        self.on_event = on_event or (lambda _kind, _data: None)
        self.writes: dict[str, str] = {}  # this step's writes, path -> content
        self.steps_run = 0
        self.values: dict[str, Any] = {}
        self._set_by_run: set[str] = set()  # variables the agents gave, kept in checkpoints
        self._inputs: dict[str, str] = {}  # documents `discover_inputs` found
        self._answered: str | None = None  # a person's answer to the escalation resumed from
        self._seen: dict[str, str] = {}  # files this step's agent has been shown so far

    # Running -------------------------------------------------------------------------------

    async def run(
        self, name: str, *, resume: bool = False, answer: str | None = None
    ) -> RunOutcome:
        workflow = self.project.workflow(name)
        if workflow is None:
            known = ", ".join(sorted(w.name for w in self.project.workflows)) or "none"
            raise RunError(f"no workflow {name!r} in {self.project.repository} (known: {known})")
        errors = errors_of(self.project, workflow)
        if errors:
            raise RunError(
                f"{workflow.name} has {len(errors)} error(s) and is not run; fix them first "
                "(orchestrator workflows validate shows them all):\n  "
                + "\n  ".join(str(e) for e in errors)
            )
        run_id = _run_id(self.project.repository, workflow.name)
        try:
            checkpoint = self.store.load(run_id) if resume else None
        except CheckpointError as exc:
            raise RunError(f"{exc}; start the run again without --resume") from exc
        if checkpoint is None:
            checkpoint = Checkpoint(run_id, workflow.name, stack=[Frame(workflow.name)])
            checkpoint.workflow_files = self._hashes(workflow)
            self._event(checkpoint, "start", workflow=workflow.name)
        else:
            self._resume(checkpoint, workflow, answer)
        self.checkpoint = checkpoint
        self.values = self._values(workflow)
        self._set_by_run = set(checkpoint.variables)
        self._finish_pending_writes()
        try:
            await self._loop()
        except _Escalated as escalated:
            return self._pause(escalated.decision)
        checkpoint.status = "done"
        self._event(checkpoint, "done", workflow=workflow.name)
        self.store.save(checkpoint)
        return self._result()

    def _values(self, workflow: Workflow) -> dict[str, Any]:
        values = {
            k: v
            for k, v in self.project.variables.get(workflow.name, {}).items()
            if isinstance(v, (str, int, float, bool))
        }
        values.update(self.checkpoint.variables)
        values.update(self.overrides)
        return values

    def _resume(self, checkpoint: Checkpoint, workflow: Workflow, answer: str | None) -> None:
        if checkpoint.status == "done":
            raise RunError(
                f"the run of {workflow.name} already finished; run it again "
                "without --resume to start over"
            )
        changed = sorted(
            path
            for path, old in checkpoint.workflow_files.items()
            if digest(self.files.root / path) != old
        )
        frame = checkpoint.stack[-1]
        current = self._workflow(frame.workflow)
        if changed:
            self._event(checkpoint, "workflow-changed", files=changed)
            if frame.step_id and current.step(frame.step_id) is None:
                raise RunError(
                    f"the workflow changed since the checkpoint ({', '.join(changed)}) and step "
                    f"{frame.step_id!r}, where the run stopped, no longer exists; start the run "
                    "again without --resume"
                )
            resumed = current.step(frame.step_id) if frame.step_id else None
            if resumed is not None:
                frame.step_index = current.steps.index(resumed)
            frame.instruction = 0  # the step restarts as it is now written
            checkpoint.workflow_files = self._hashes(workflow)
        if checkpoint.status == "paused" and checkpoint.escalations:
            pending = checkpoint.escalations[-1]
            if answer is not None:
                pending["answer"] = answer
                checkpoint.decisions.append(
                    {**pending, "outcome": "answer", "value": answer, "by": "person"}
                )
                self._answered = answer
        checkpoint.status = "running"
        self._event(checkpoint, "resume", step=frame.step_id)

    async def _loop(self) -> None:
        checkpoint = self.checkpoint
        while checkpoint.stack:
            frame = checkpoint.stack[-1]
            workflow = self._workflow(frame.workflow)
            if frame.step_index >= len(workflow.steps):
                checkpoint.stack.pop()
                if checkpoint.stack:
                    checkpoint.stack[-1].instruction = frame.caller_instruction + 1
                self.store.save(checkpoint)
                continue
            step = workflow.steps[frame.step_index]
            frame.step_id = step.id
            key = f"{workflow.name}:{step.id}"
            if frame.visits.get(step.id, 0) > MAX_VISITS:
                raise _Escalated(self._loop_escalation(workflow, step, frame))
            if frame.instruction == 0 and self._already_written(workflow, step):
                self._event(checkpoint, "skipped", step=key, reason="its output has it already")
                self._advance(frame, workflow, step)
                continue
            self._event(checkpoint, "step", step=key, goal=step.goal)
            try:
                await self._step(workflow, step, frame)
            except _Jump as jump:
                self._commit(frame, workflow, step, jump_to=jump.step)
                continue
            except _Invoke as invoke:
                self._commit(frame, workflow, step, invoked=invoke.workflow)
                continue
            self._commit(frame, workflow, step)

    async def _step(self, workflow: Workflow, step: Step, frame: Frame) -> None:
        self.steps_run += 1
        self._seen = {}
        if step.attrs.get("prose") == "true":
            await self._prose_step(workflow, step)
            return
        for index in range(frame.instruction, len(step.instructions)):
            frame.instruction = index
            await self._instruction(workflow, step, step.instructions[index])

    # Instructions ------------------------------------------------------------------------

    async def _instruction(self, workflow: Workflow, step: Step, instruction: Instruction) -> None:
        kind = instruction.kind
        if (
            instruction.condition
            and kind != "check"
            and not await self._holds(workflow, step, instruction.condition)
        ):
            return
        if kind == "check":
            if await self._holds(workflow, step, instruction.condition or instruction.text):
                for child in instruction.children:
                    await self._instruction(workflow, step, child)
        elif kind == "act":
            await self._act(workflow, step, instruction.text)
        elif kind == "goto":
            self._goto(workflow, instruction)
        elif kind == "template-output":
            await self._template_output(workflow, step, instruction)
        elif kind == "invoke":
            await self._invoke(workflow, step, instruction)
        elif kind == "output":
            self._event(
                self.checkpoint,
                "output",
                step=f"{workflow.name}:{step.id}",
                text=self._expand(instruction.text),
            )
        elif kind in ("ask", "halt", "menu"):
            await self._decide(kind, workflow, step, instruction.text, _options(instruction))

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

    def _relative(self, text: str) -> str:
        """Variables filled, as the repository-relative path agents see."""
        return self._expand(text).replace(f"{self.files.root}/", "")

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
        raise _Jump(target)

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
        raise _Invoke(invoked)

    async def _decide(
        self, kind: str, workflow: Workflow, step: Step, text: str, options: tuple[str, ...]
    ) -> Decision:
        if self._answered is not None:  # a person answered the escalation this resumes from
            answered, self._answered = self._answered, None
            return Decision(kind, "answer", answered, "answered by a person", "person")
        task = self._task(kind, workflow, step, self._expand(text), options=options)
        decision = await self.policy.decide(kind, task, self._perform)
        self.checkpoint.decisions.append(dataclasses.asdict(decision))
        self._event(self.checkpoint, "decision", **dataclasses.asdict(decision))
        if decision.outcome == "escalate":
            raise _Escalated(decision)
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
            raise _Escalated(_model_trouble(task, exc)) from exc
        except Escalation as exc:
            where = f"{task.workflow}:{task.step_id}"
            raise _Escalated(
                Decision(exc.point, "escalate", None, exc.reason, "agent", where, exc.question)
            ) from exc

    async def _held(self, task: Task, lacking: Callable[[Reply], list[str]]) -> Reply:
        """Work that must produce something is done only when it has: a reply that produced
        nothing is asked again once, saying so, then the run pauses for a person."""
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
        raise _Escalated(decision)

    def _lacking(self, references: Sequence[str], reply: Reply) -> list[str]:
        """The files of `references` that neither the reply, this step nor the disk has;
        a path the agents may not write is not theirs to produce."""
        given = set()
        for reference in reply.files:
            try:
                given.add(self.confinement.check_write(self._expand(reference)))
            except PathRefused:
                continue
        missing = []
        for reference in references:
            try:
                relative = self.confinement.check_write(reference)
            except PathRefused:
                continue
            if relative in given or relative in self.writes:
                continue
            if not (self.files.root / relative).exists():
                missing.append(relative)
        return missing

    # Step boundaries ---------------------------------------------------------------------

    def _commit(
        self,
        frame: Frame,
        workflow: Workflow,
        step: Step,
        *,
        jump_to: Step | None = None,
        invoked: Workflow | None = None,
    ) -> None:
        """The step's end: one checkpoint holds the new position and, as a redo log, the
        step's writes; then the writes are made. A crash before the checkpoint re-runs the
        step (nothing of it was written); after it, the restart makes the logged writes."""
        checkpoint = self.checkpoint
        checkpoint.variables = {k: str(v) for k, v in self._learned.items()}
        if invoked is not None:
            checkpoint.stack.append(Frame(invoked.name, caller_instruction=frame.instruction))
            self._event(checkpoint, "invoke", workflow=invoked.name, by=workflow.name)
        elif jump_to is not None:
            frame.step_index, frame.instruction = workflow.steps.index(jump_to), 0
            frame.step_id = jump_to.id
        else:
            self._move_on(frame, workflow, step)
        checkpoint.pending_writes = dict(self.writes)
        self.store.save(checkpoint)
        self.on_event("checkpoint", {"step": step.id, "workflow": workflow.name})
        self._finish_pending_writes(save=False)  # the log is cleared with the next checkpoint

    def _move_on(self, frame: Frame, workflow: Workflow, step: Step) -> None:
        key = f"{workflow.name}:{step.id}"
        if key not in self.checkpoint.completed:
            self.checkpoint.completed.append(key)
        frame.step_index, frame.instruction = _next_index(workflow, step), 0
        nxt = workflow.steps[frame.step_index] if frame.step_index < len(workflow.steps) else None
        frame.step_id = nxt.id if nxt else ""
        if nxt is not None and step.next:  # entered through a step file's link
            frame.visits[nxt.id] = frame.visits.get(nxt.id, 0) + 1

    def _loop_escalation(self, workflow: Workflow, step: Step, frame: Frame) -> Decision:
        """Step files that link in a circle would call the model until the budget runs out:
        past the cap the run pauses for a person, who may let it go round again."""
        self._event(self.checkpoint, "loop-cap", target=step.id, visits=frame.visits[step.id])
        frame.visits[step.id] = 0  # answering the escalation allows MAX_VISITS more rounds
        return Decision(
            "loop",
            "escalate",
            None,
            f"step {step.id!r} was entered {MAX_VISITS + 1} times through its links: "
            "the step files go round in a circle",
            "policy",
            f"{workflow.name}:{step.id}",
            f"The run keeps coming back to {step.source}. Go on with it?",
        )

    def _advance(self, frame: Frame, workflow: Workflow, step: Step) -> None:
        self._move_on(frame, workflow, step)
        self.store.save(self.checkpoint)

    def _finish_pending_writes(self, *, save: bool = True) -> None:
        checkpoint = self.checkpoint
        for logged, content in checkpoint.pending_writes.items():
            try:  # a checkpoint is a file on disk: its paths are checked again, never trusted
                relative = self.confinement.check_write(logged)
            except PathRefused as refused:
                self._event(checkpoint, "write-refused", path=logged, reason=str(refused))
                continue
            path = self.files.root / relative
            data = content.encode()
            if digest(path) != _sha(data):
                atomic_write(path, data)
                self.on_event("written", {"path": relative})
            checkpoint.outputs[relative] = _sha(data)
        if checkpoint.pending_writes:
            checkpoint.pending_writes = {}
            if save:
                self.store.save(checkpoint)
        self.writes = {}

    def _already_written(self, workflow: Workflow, step: Step) -> bool:
        """A step file whose output already lists it in `stepsCompleted` is not run again
        (a person may have done it in their editor, or the run before a crash)."""
        if step.attrs.get("prose") != "true":
            return False
        output = next((i for i in step.instructions if i.kind == "template-output"), None)
        if output is None or not output.target:
            return False
        text = self._read(self._output_path(output.target))
        return text is not None and outputs.step_marker(step.id) in outputs.steps_completed(text)

    def _pause(self, decision: Decision) -> RunOutcome:
        checkpoint = self.checkpoint
        frame = checkpoint.stack[-1]
        workflow = self._workflow(frame.workflow)
        step = workflow.steps[frame.step_index]
        self.writes = {}  # the step re-runs when the person has answered
        checkpoint.status = "paused"
        checkpoint.escalations.append(
            {**dataclasses.asdict(decision), "step": step.id, "workflow": workflow.name}
        )
        self._event(checkpoint, "escalated", question=decision.question, reason=decision.reason)
        self.store.save(checkpoint)
        return self._result()

    def _result(self) -> RunOutcome:
        checkpoint = self.checkpoint
        return RunOutcome(
            checkpoint.status,
            dict(checkpoint.outputs),
            list(checkpoint.decisions),
            list(checkpoint.escalations),
            self.steps_run,
            list(checkpoint.events),
        )

    # Helpers ------------------------------------------------------------------------------

    @property
    def _learned(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self._set_by_run}

    def _take(self, files: Mapping[str, str], variables: Mapping[str, str]) -> None:
        for name, value in variables.items():
            self.values[name] = value
            self._set_by_run.add(name)
        for reference, content in files.items():
            try:
                relative = self.confinement.check_write(self._expand(reference))
            except PathRefused as refused:
                self._event(self.checkpoint, "write-refused", path=reference, reason=str(refused))
                continue
            self.writes[relative] = content

    def _write(self, path: Path, content: str) -> None:
        self.writes[self.files.relative(path)] = content

    def _readable(self, path: Path) -> bool:
        try:
            self.confinement.check_read(path)
        except PathRefused:
            return False
        return True

    def _read(self, path: Path) -> str | None:
        relative = self.files.relative(path)
        if relative in self.writes:
            return self.writes[relative]
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return None

    def _exists(self, reference: str) -> bool | None:
        if "{" in reference:
            return None
        for choice in alternatives(reference):
            try:
                path = self.files.locate(choice)
            except PathRefused:
                continue
            if self.files.relative(path) in self.writes or path.exists():
                return True
        return False

    def _expand(self, text: str) -> str:
        return expand(text, self.values, placeholders=True)

    def _output_path(self, reference: str) -> Path:
        text = self._expand(reference)
        missing = re.findall(r"\{\{\s*([\w.-]+)\s*\}\}", text)
        if missing:  # a name the agent was to give, e.g. {{story_key}}.md
            raise RunError(
                f"the output {reference!r} needs {', '.join(missing)}, which no step has set; "
                f"give it with --set {missing[0]}=VALUE and --resume"
            )
        try:
            return self.files.root / self.confinement.check_write(text)
        except PathRefused as refused:
            raise RunError(f"output {reference!r}: {refused}") from refused

    def _default_output(self, workflow: Workflow) -> str | None:
        return workflow.outputs[0] if workflow.outputs else None

    def _template_text(self, workflow: Workflow, step: Step) -> str | None:
        """The template the output starts from: the workflow's, the step file's own
        (`prdTemplate: '../templates/…'`, relative to the step file), or a skill's."""
        step_folder = (self.files.root / step.source.path).parent
        candidates: list[tuple[str, Path]] = []
        if workflow.template:
            candidates.append((workflow.template, self.files.root / workflow.root))
        candidates += [
            (v, step_folder) for k, v in step.attrs.items() if k.lower().endswith("template")
        ]
        candidates += [
            (str(v), self.files.root / workflow.root)
            for k, v in self.values.items()
            if k.startswith("workflow.") and k.endswith("_template")
        ]
        for candidate, base in candidates:
            try:
                path = self.files.locate(self._expand(candidate), base=base)
            except PathRefused:
                continue
            if path.is_file() and path.suffix in (".md", ".yaml", ".yml", ".txt"):
                return self.files.read_text(path)
        return None

    @staticmethod
    def _template_section(template: str | None, section: str | None) -> str | None:
        if template is None or section is None:
            return template
        lines = template.split("\n")
        for index, line in enumerate(lines):
            if "{{" + section + "}}" in line.replace(" ", ""):
                start = max(0, index - 3)
                return "\n".join(lines[start : index + 2])
        return None

    def _task(
        self,
        kind: str,
        workflow: Workflow,
        step: Step,
        instruction: str,
        *,
        template: str | None = None,
        output_path: str | None = None,
        options: tuple[str, ...] = (),
    ) -> Task:
        rules = tuple(self._expand(i.text) for i in workflow.critical)[:20]
        root = f"{self.files.root}/"
        scalars = {
            k: str(v).replace(root, "")
            for k, v in self.values.items()
            if isinstance(v, (str, int, float)) and k not in ("project-root", "project_root")
        }
        step_values = {k[3:]: v for k, v in step.attrs.items() if k.startswith("fm.")}
        # Agents see repository paths relative to the repository, never the host's layout.
        expanded = self._expand(instruction).replace(f"{self.files.root}/", "")
        # An agent working through a step keeps what it has read in that step; a file it
        # is shown again is shown as it is now.
        self._seen.update(self._documents(expanded))
        documents = {path: self._read(self.files.root / path) or "" for path in self._seen}
        return Task(
            kind,
            workflow.name,
            step.id,
            step.goal,
            expanded,
            {**scalars, **step_values},
            rules,
            template,
            dict(self._inputs),
            options,
            output_path,
            workflow.agent,
            documents,
        )

    def _documents(self, text: str) -> dict[str, str]:
        """The repository files an instruction is about, as they are now (this step's writes
        included): those whose variable or path it names ("{{sprint_status}}", "sprint
        status file"), so the agent works from what is really there."""
        found: dict[str, str] = {}
        lowered = text.lower()
        for name, value in self.values.items():
            if len(found) >= MAX_DOCUMENTS or not isinstance(value, str) or "/" not in value:
                continue
            named = name.lower() in lowered or name.replace("_", " ").lower() in lowered
            if not (named or value in text) or "{" in value or "*" in value:
                continue
            for choice in alternatives(value):
                try:
                    path = self.files.root / self.confinement.check_read(choice)
                except PathRefused:
                    continue
                content = self._read(path) if path.suffix else None
                if content is not None:
                    found[self.files.relative(path)] = excerpt(content, [self.files.relative(path)])
                    break
        return found

    def _discover_inputs(self, workflow: Workflow) -> None:
        """BMAD's `discover_inputs` protocol, done by the engine: each input pattern's files
        (whole, else sharded) are loaded for the agent as `{name}_content`."""
        found: dict[str, str] = dict(self._inputs)
        for name, spec in (workflow.inputs or {}).items():
            if not isinstance(spec, dict):
                continue
            for key in ("whole", "sharded"):
                pattern = self._expand(str(spec.get(key) or ""))
                if not pattern or "{" in pattern:
                    continue
                root = str(self.files.root)
                relative = pattern[len(root) + 1 :] if pattern.startswith(root + "/") else pattern
                matches = sorted(
                    p for p in self.files.root.glob(relative) if p.is_file() and self._readable(p)
                )
                if matches:
                    text = "\n\n".join((self.files.read_text(p) or "") for p in matches)
                    found[name] = excerpt(text, [self.files.relative(p) for p in matches])
                    self.values[f"{name}_content"] = found[name]
                    break
        self._inputs = found
        self._event(self.checkpoint, "inputs", found=sorted(found))

    def _find_workflow(self, target: str) -> Workflow | None:
        text = target.strip().replace("\\", "/")
        for workflow in self.project.workflows:
            entry = str(self.files.root / workflow.entry.path)
            if text in (workflow.name, entry) or text.endswith("/" + workflow.entry.path):
                return workflow
            if text.endswith(workflow.root + "/workflow.yaml") and workflow.root:
                return workflow
        return None

    def _workflow(self, name: str) -> Workflow:
        workflow = self.project.workflow(name)
        if workflow is None:
            raise RunError(f"workflow {name!r} is no longer installed")
        return workflow

    def _hashes(self, workflow: Workflow) -> dict[str, str]:
        paths = {workflow.entry.path, *(s.source.path for s in workflow.steps)}
        return {p: d for p in sorted(paths) if (d := digest(self.files.root / p))}

    def _event(self, checkpoint: Checkpoint, kind: str, **data: Any) -> None:
        line = json.dumps({"event": kind, **data}, default=str)
        checkpoint.events.append(line)
        del checkpoint.events[:-MAX_EVENTS]  # the newest; a checkpoint must stay small
        self.on_event(kind, data)


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


def _next_index(workflow: Workflow, step: Step) -> int:
    """Step files hand over through their links (branches only when chosen); a step file
    with no link ends the workflow. Steps of one instructions file run in order."""
    if step.attrs.get("prose") == "true" and workflow.format != "workflow.yaml":
        target = workflow.step(step.next[0]) if step.next else None
        return workflow.steps.index(target) if target is not None else len(workflow.steps)
    return workflow.steps.index(step) + 1


def _options(instruction: Instruction) -> tuple[str, ...]:
    if instruction.target and instruction.kind == "menu":
        return tuple(instruction.target.split(","))
    return tuple(dict.fromkeys(_OPTION.findall(instruction.text)))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run_id(repository: Path, workflow: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", workflow)
    return f"{safe}-{hashlib.sha256(str(repository.resolve()).encode()).hexdigest()[:8]}"
