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

from bot.engine.tasks import Reply, Task
from bot.project.sprint_edit import Change, apply
from bot.project.sprint_status import parse

_HEADING = re.compile(r"^(#{1,6})\s+(.+)$", re.MULTILINE)
_BIND = re.compile(r"Bind `?\{doc_workspace\}`? to `([^`]+)`")
_WRITE = re.compile(r"Write `([\w.-]+\.md)`")
_TOLD = re.compile(
    r"\b(?:copy|append|save|write|create)\b[^\n]{0,160}?\b(?:to|at)\b:?\s+`?"
    r"([^`{}\s]+/[^`{}\s]+\.\w+)",
    re.IGNORECASE,
)


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
        return self._act(task)

    def _check(self, task: Task) -> str:
        """Conditions about files are checked against the documents it was shown; there is
        no person at the keyboard, so nobody "provided input" or "chose" anything; failure
        conditions ("not found", "is done", "ERROR") are taken as not holding."""
        text = task.instruction.lower().removeprefix("is this true? ")
        if "no user input" in text:
            return "yes"
        if "user" in text:
            return "no"
        if "first story in epic" in text:
            return "yes" if task.variables.get("story_num") == "1" else "no"
        if text.endswith("exists") or text.endswith("exist"):
            subject = text.replace(" file", "").rsplit(" ", 1)[0].replace(" does not", "")
            present = any(
                subject.replace(" ", "_") in k or subject.replace(" ", "-") in k
                for k in task.documents
            )
            wanted = "not" not in text
            return "yes" if present == wanted else "no"
        return "no"

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

    def _act(self, task: Task) -> Reply:
        text = task.instruction
        status = next(
            ((p, t) for p, t in task.documents.items() if "development_status" in t), None
        )
        if status and "FIRST story" in text and "backlog" in text:
            return Reply(variables=_first_backlog_story(status[1]))
        if status and 'update to "in-progress"' in text and "backlog" in text:
            epic = task.variables.get("epic_num", "")
            return Reply(
                files={status[0]: _set_status(status[1], f"epic-{epic}", "backlog", "in-progress")}
            )
        if status and (match := re.search(r"development_status\[([\w.-]+)\] = \"([\w-]+)\"", text)):
            return Reply(
                files={status[0]: _set_status(status[1], match.group(1), None, match.group(2))}
            )
        return Reply(files=self._files(task))

    def _files(self, task: Task) -> dict[str, str]:
        bind, write = _BIND.search(task.instruction), _WRITE.search(task.instruction)
        if bind is None or write is None:
            return self._told(task)
        body = self._section(task)
        front = f"---\ntitle: {task.variables.get('project_name', 'project')}\nstatus: draft\n---\n"
        return {str(Path(bind.group(1)) / write.group(1)): front + "\n" + body + "\n"}

    def _told(self, task: Task) -> dict[str, str]:
        """The files the instruction says to copy, append or save to: what is there (or the
        template it was shown), and a section for this step after it."""
        files = {}
        for path in dict.fromkeys(_TOLD.findall(task.instruction)):
            before = task.documents.get(path) or task.template or ""
            files[path] = f"{before.rstrip()}\n\n{self._section(task)}\n".lstrip()
        return files


def _first_backlog_story(sprint_status: str) -> dict[str, str]:
    story = next((e for e in parse(sprint_status).stories() if e.known == "backlog"), None)
    if story is None:
        return {}
    epic, number, title = story.key.split("-", 2)
    return {
        "story_key": story.key,
        "epic_num": epic,
        "story_num": number,
        "story_title": title,
        "story_id": f"{epic}.{number}",
    }


def _set_status(text: str, key: str, seen: str | None, status: str) -> str:
    """One key's status changed by the product's one writer (comments and order kept)."""
    edited, _ = apply(text, [Change(key, status, seen=seen)])
    return edited
