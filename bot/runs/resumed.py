"""A run going on after a person answered it: who decided, put in the checkpoint before the
engine reads it, and the answer told to the agent in its next piece of work.

The engine takes a person's answer as the choice at the stop it paused on; this makes sure the
agent doing the step again hears it too (in the task's notice), and that the decision log says
who decided. A pause a person lifts by giving more (a budget) is no answer to the workflow:
it is recorded here, and the engine goes on as from any checkpoint.
"""

from __future__ import annotations

import dataclasses

from bot.engine.checkpoint import CheckpointStore
from bot.engine.tasks import Reply, Task, WorkflowAgent
from bot.runs.jobs import Job
from bot.runs.steerstore import LIFTED, GivenAnswer
from bot.templates import render

#: Work the answer is told with: what writes the step's output, not a yes/no check.
_TOLD = frozenset({"act", "section"})


def apply_person(
    store: CheckpointStore, run_id: str, job: Job, given: GivenAnswer | None
) -> tuple[str | None, str | None]:
    """(the answer for the engine, the notice for the agent) as the job goes on; both None
    when there is no unanswered escalation for a person's answer to meet."""
    checkpoint = store.load(run_id)
    if job.answer is None or checkpoint is None or checkpoint.status != "paused":
        return None, None
    if not checkpoint.escalations or "answer" in checkpoint.escalations[-1]:
        return None, None
    pending = checkpoint.escalations[-1]
    by = given.by if given is not None else ""
    if pending.get("point") in LIFTED:
        pending["answer"] = job.answer
        checkpoint.decisions.append(
            {**pending, "outcome": "answer", "value": job.answer, "by": "person"}
        )
        checkpoint.status = "running"
        store.save(checkpoint)
        return None, None
    if by:
        pending["decided_by"] = by  # the engine copies it into the decision it records
        store.save(checkpoint)
    shown = given.shown if given is not None else job.answer
    notice = render(
        "runs/answered_notice.md.j2",
        question=str(pending.get("question") or ""),
        answer=shown,
        by=by,
    )
    # A step that produced nothing hears a person's answer from the engine itself.
    return job.answer, None if pending.get("point") == "unproduced" else notice


class Told:
    """The run's agent, told `notice` in the first piece of work that writes something."""

    def __init__(self, agent: WorkflowAgent, notice: str | None) -> None:
        self.agent = agent
        self._notice = notice

    async def perform(self, task: Task) -> Reply:
        if self._notice is not None and task.kind in _TOLD:
            notice = f"{task.notice}\n\n{self._notice}" if task.notice else self._notice
            task, self._notice = dataclasses.replace(task, notice=notice), None
        return await self.agent.perform(task)
