"""A test agent that answers only from what the executor gives it — no script of outputs.

It writes a section by filling the template it is shown (every heading gets a paragraph built
from the step's goal and the project's name), answers menus with the option that carries on,
checks conditions against the variables it was given, and writes the files an instruction
tells it to write. Change the workflow or its template and the output changes with it.
Every call is appended to a log file (one line, flushed) so tests can count them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bot.engine.agent import Reply, Task

_HEADING = re.compile(r"^(#{1,6})\s+(.+)$", re.MULTILINE)
_BIND = re.compile(r"Bind `?\{doc_workspace\}`? to `([^`]+)`")
_WRITE = re.compile(r"Write `([\w.-]+\.md)`")


class ContextAgent:
    def __init__(self, log: Path | None = None) -> None:
        self.log = log
        self.calls: list[Task] = []

    async def perform(self, task: Task) -> Reply:
        self.calls.append(task)
        if self.log is not None:
            with self.log.open("a") as out:
                out.write(f"{task.kind}\t{task.workflow}\t{task.step_id}\n")
                out.flush()
                os.fsync(out.fileno())
        if task.kind == "menu":
            return Reply(answer="C" if "C" in task.options else (task.options or ("",))[0])
        if task.kind == "check":
            return Reply(answer=self._check(task))
        if task.kind == "ask":
            return Reply(answer=self._ask(task), confidence=0.9, text="from the brief")
        if task.kind == "section":
            return Reply(text=self._section(task))
        return Reply(files=self._files(task))

    def _check(self, task: Task) -> str:
        text = task.instruction.lower()
        return "yes" if ("exist" in text and "not" not in text) else "no"

    def _ask(self, task: Task) -> str:
        return task.options[0] if task.options else f"Proceed as {task.step_goal or 'planned'}"

    def _section(self, task: Task) -> str:
        project = task.variables.get("project_name", "the project")
        goal = task.step_goal or task.step_id
        headings = [h for h in _HEADING.findall(task.template or "")][:3]
        if not headings:
            return f"## {goal}\n\n{project}: {goal.lower()}, written for step {task.step_id}."
        return "\n\n".join(
            f"{marks} {title.strip()}\n\n{project} — {title.strip().lower()} ({goal})."
            for marks, title in headings
        )

    def _files(self, task: Task) -> dict[str, str]:
        bind, write = _BIND.search(task.instruction), _WRITE.search(task.instruction)
        if bind is None or write is None:
            return {}
        body = self._section(task)
        front = f"---\ntitle: {task.variables.get('project_name', 'project')}\nstatus: draft\n---\n"
        return {str(Path(bind.group(1)) / write.group(1)): front + "\n" + body + "\n"}
