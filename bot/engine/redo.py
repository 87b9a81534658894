"""Step boundaries: the redo log. A step's writes are logged in the checkpoint with the new
position, then made; a restart makes what the log holds without asking the agent again."""

from __future__ import annotations

import hashlib

from bot.engine import outputs
from bot.engine.checkpoint import Frame, atomic_write, digest
from bot.engine.context import RunContext
from bot.engine.files import PathRefused
from bot.engine.model import Step, Workflow


class StepBoundaries(RunContext):
    """Committing a step: its position, its writes, and moving on."""

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


def _next_index(workflow: Workflow, step: Step) -> int:
    """Step files hand over through their links (branches only when chosen); a step file
    with no link ends the workflow. Steps of one instructions file run in order."""
    if step.attrs.get("prose") == "true" and workflow.format != "workflow.yaml":
        target = workflow.step(step.next[0]) if step.next else None
        return workflow.steps.index(target) if target is not None else len(workflow.steps)
    return workflow.steps.index(step) + 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
