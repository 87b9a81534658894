"""The executor: runs a loaded workflow to its end through an agent, resumable at every step.

Each step's work is done first and its file writes kept in memory; at the step's end the
writes are logged in the checkpoint, made (each atomically), and the checkpoint moves on.
A crash before the log re-runs the step (nothing of it was written); a crash after it
finishes the writes from the log without asking the agent again. So a step is never done
twice, and every output is whole. The parts: `context` (the run's state and the agent's
context), `redo` (step boundaries), `dispatch` (each instruction kind); here, the step loop.

Skill scripts (6.12's `uv run …/resolve_config.py`, `resolve_customization.py`) are not run:
the loader already gives their effect (config and customization resolved into variables),
so a run needs no interpreter, network or environment of the repository's choosing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

from bot.engine.autonomy import Decision
from bot.engine.checkpoint import Checkpoint, CheckpointError, Frame, Status, digest
from bot.engine.context import RunError
from bot.engine.dispatch import MAX_VISITS, Dispatch, InvokeWorkflow, JumpTo, StepEscalated
from bot.engine.model import Step, Workflow
from bot.engine.report import errors_of

__all__ = ["MAX_VISITS", "Executor", "RunError", "RunOutcome"]


@dataclasses.dataclass
class RunOutcome:
    status: Status  # "done" or "paused"
    outputs: dict[str, str]  # path -> sha256
    decisions: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    steps_run: int
    events: list[str]


class Executor(Dispatch):
    """Runs a workflow step by step; `run` starts it, or goes on from its checkpoint."""

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
        run_id = run_id_for(self.project.repository, workflow.name)
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
        except StepEscalated as escalated:
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
                if pending.get("point") == "unproduced":
                    self._guidance = answer  # for the agent, when it does the step again
                else:
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
                raise StepEscalated(self._loop_escalation(workflow, step, frame))
            if frame.instruction == 0 and self._already_written(workflow, step):
                self._event(checkpoint, "skipped", step=key, reason="its output has it already")
                self._advance(frame, workflow, step)
                continue
            self._event(checkpoint, "step", step=key, goal=step.goal)
            try:
                await self._step(workflow, step, frame)
            except JumpTo as jump:
                self._commit(frame, workflow, step, jump_to=jump.step)
                continue
            except InvokeWorkflow as invoke:
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


def run_id_for(repository: Path, workflow: str) -> str:
    """The id of the run of `workflow` in the checkout at `repository`: its checkpoint's name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", workflow)
    return f"{safe}-{hashlib.sha256(str(repository.resolve()).encode()).hexdigest()[:8]}"
