"""A run's question for a person, as a GitHub issue labelled `escalation`: the question a
paused run waits on (numbered, with its context), its text, the options a person picks by
number, and putting it on GitHub exactly once.

The issue carries a hidden marker keyed by the run and the escalation's number in it, and is
looked for (among the App's own `escalation` issues) before one is opened: a restart or a
retry finds it and never opens a second.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.engine.loader import Project
from bot.github.markers import find_marked_comment, marker, written_by_app
from bot.runs.jobs import Outcome
from bot.runs.publish import headline
from bot.templates import render

LABEL = "escalation"
_OPTION = re.compile(r"^[\s>*-]*\[([A-Za-z0-9]{1,3})\]\s*(.+?)\s*$", re.MULTILINE)
#: Stops whose question has no answer a person types: they are lifted by other commands.
NOT_QUESTIONS = frozenset({"pause", "budget", "model"})


@dataclasses.dataclass(frozen=True)
class Option:
    number: int
    key: str  # what the workflow calls it: `[2]`, `[A]`
    text: str


def options_of(escalation: Mapping[str, Any]) -> list[Option]:
    """The choices the workflow's question offers (`[A] Teams`), numbered from 1."""
    found = _OPTION.findall(str(escalation.get("question") or ""))
    keys = dict.fromkeys(key for key, _ in found)
    texts = {key: text for key, text in reversed(found)}
    return [Option(n, key, texts[key]) for n, key in enumerate(keys, 1)]


def is_question(escalation: Mapping[str, Any] | None) -> bool:
    """Whether a paused run waits for an answer (and so has an escalation issue)."""
    return bool(escalation) and str((escalation or {}).get("point")) not in NOT_QUESTIONS


def choice(escalation: Mapping[str, Any], typed: str) -> tuple[str, str]:
    """(what the engine takes, the answer in words) for `/ao answer <typed>`: an option by its
    number or its key, else the text as written."""
    words = " ".join(typed.split())
    for option in options_of(escalation):
        if words.lower() in (str(option.number), option.key.lower()):
            return option.key, f"[{option.key}] {option.text}"
    return words, words


def with_context(outcome: Outcome, project: Project, outputs: Mapping[str, str]) -> Outcome:
    """A question with what the agent had read at its step: the step's file and the run's
    outputs so far, for the person who answers it."""
    escalation = outcome.escalation
    if escalation is None:
        return outcome
    workflow = project.workflow(str(escalation.get("workflow") or ""))
    step = workflow.step(str(escalation.get("step") or "")) if workflow is not None else None
    read = ([str(step.source)] if step is not None else []) + sorted(outputs)
    return dataclasses.replace(outcome, escalation={**escalation, "read": read})


def pending_of(escalations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The escalation the run waits on, with its number in the run (a stable key for the
    issue it becomes)."""
    pending = [(n, e) for n, e in enumerate(escalations, 1) if "answer" not in e]
    if not pending:
        return None
    number, escalation = pending[-1]
    return {**escalation, "number": number}


def escalation_mark(run_id: str, number: int) -> str:
    return marker("escalation", f"{run_id}.{number}")


def issue_text(
    escalation: Mapping[str, Any], *, run: Mapping[str, Any], status_url: str
) -> tuple[str, str]:
    """(title, body) of the escalation issue. `run`: workflow, issue, branch_url, started_by,
    run_id."""
    question = headline(escalation.get("question") or escalation.get("reason"), options=False)
    title = render("runs/escalation_title.txt.j2", run=run, question=question).strip()
    shown = {
        "question": str(escalation.get("question") or ""),
        "reason": str(escalation.get("reason") or ""),
        "step": str(escalation.get("step") or ""),
        "read": [str(p) for p in escalation.get("read") or []],
        "value": str(escalation.get("value") or ""),
        "confidence": escalation.get("confidence"),
        "by": str(escalation.get("by") or ""),
    }
    body = render(
        "runs/escalation_issue.md.j2",
        escalation=shown,
        options=options_of(escalation),
        run=run,
        status_url=status_url,
    )
    mark = escalation_mark(str(run["run_id"]), int(escalation.get("number") or 0))
    return (title if len(title) <= 120 else title[:119] + "…"), f"{body}\n\n{mark}"


async def find_or_open(
    gh: GitHubAPI,
    repository: str,
    app_id: int,
    *,
    title: str,
    body: str,
    mark: str,
    assignee: str,
) -> dict[str, Any]:
    """The App's escalation issue carrying `mark`, opened (and assigned, where `assignee`
    can be) only when there is none. Found closed, the question was dropped with its run,
    and the run (retried) asks it again: it is reopened."""
    issues_url = f"/repos/{repository}/issues"
    async for issue in gh.getiter(f"{issues_url}?labels={LABEL}&state=all&per_page=100"):
        if written_by_app(issue, app_id) and mark in (issue.get("body") or ""):
            if issue.get("state") == "closed":
                return dict(await gh.patch(issue["url"], data={"state": "open"}))
            return dict(issue)
    issue = dict(await gh.post(issues_url, data={"title": title, "body": body, "labels": [LABEL]}))
    if not assignee:  # a question for whoever looks after the repository
        return issue
    try:
        await gh.getitem(f"/repos/{repository}/assignees/{{assignee}}", {"assignee": assignee})
    except gidgethub.BadRequest:  # 404: they cannot be assigned here; the issue stays open
        return issue
    return dict(await gh.post(f"{issue['url']}/assignees", data={"assignees": [assignee]}))


async def close_with(
    gh: GitHubAPI, issue_url: str, app_id: int, *, body: str, mark: str, reason: str
) -> None:
    """Say `body` on the issue once (by `mark`), then close it (`completed`/`not_planned`)."""
    comments_url = f"{issue_url}/comments"
    if await find_marked_comment(gh, comments_url, mark, app_id) is None:
        await gh.post(comments_url, data={"body": f"{body}\n\n{mark}"})
    issue = await gh.getitem(issue_url)
    if issue.get("state") != "closed":
        await gh.patch(issue_url, data={"state": "closed", "state_reason": reason})
