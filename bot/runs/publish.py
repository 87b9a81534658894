"""What a run shows people on GitHub, as text: its status comment, its commits, its decision
log and its pull request. Pure: the caller sends them (helpers in `bot/github/`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.github.markers import marker
from bot.templates import render

#: The words for a run's state, everywhere a person reads them.
STATE_WORDS = {
    "queued": "⏳ queued",
    "running": "▶️ running",
    "paused": "⏸️ paused: waiting for a person",
    "done": "✅ done",
    "failed": "❌ failed",
    "cancelled": "⏹️ cancelled",
}


@dataclasses.dataclass(frozen=True)
class RunView:
    """Where a run stands, as its status comment shows it."""

    run_id: str
    workflow: str
    state: str
    issue: int
    started_by: str
    step: int = 0  # the step at work (1-based), 0 before the first
    steps: int = 0
    goal: str = ""
    persona: str = ""
    cost_usd: float = 0.0
    budget_usd: float | None = None
    branch: str = ""
    branch_url: str = ""
    pull_url: str = ""
    question: str = ""  # what the run waits for, when paused
    question_url: str = ""  # its escalation issue
    note: str = ""  # what a person did to the run (cancelled it, closed its question)
    error: str = ""  # why it failed, in words a person can act on


def status_mark(run_id: str) -> str:
    return marker("run", run_id)


def status_comment(view: RunView) -> str:
    body = render("runs/status.md.j2", run=view, state=STATE_WORDS.get(view.state, view.state))
    return f"{body}\n\n{status_mark(view.run_id)}"


def commit_message(workflow: str, step: int, goal: str) -> str:
    """`create-prd: step 3 — Discover the users`: one line, as git and GitHub show it."""
    subject = render(
        "runs/commit.txt.j2", workflow=workflow, step=step, goal=" ".join(goal.split())
    )
    return subject if len(subject) <= 100 else subject[:99] + "…"


def _engine_decision(entry: Mapping[str, Any]) -> dict[str, str]:
    by = str(entry.get("by", ""))
    if by == "person" and entry.get("decided_by"):
        by = f"decided by @{entry['decided_by']}"
    return {
        "step": str(entry.get("step", "")),
        "question": _one_line(headline(entry.get("question")) or entry.get("point", "")),
        "decided": _one_line(entry.get("value") or entry.get("outcome", "")),
        "by": {"policy": "policy", "agent": "agent", "person": "a person"}.get(by, by),
        "why": _one_line(entry.get("reason", "")),
    }


def _agent_decision(entry: Mapping[str, Any]) -> dict[str, str]:
    source = str(entry.get("source", ""))
    if source == "onboarding":
        by = f"onboarding document {entry.get('cited') or ''}".strip()
    elif source == "model":
        by = f"model, confidence {float(entry.get('confidence', 0.0)):.2f}"
    else:
        by = source or "—"
    if entry.get("escalated"):
        by += " → asked a person"
    return {
        "step": str(entry.get("step", "")),
        "question": _one_line(headline(entry.get("question", ""))),
        "decided": _one_line(entry.get("answer") or "—"),
        "by": by,
        "why": _one_line(entry.get("reasoning", "")),
    }


def decision_log(
    workflow: str,
    decisions: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The run's decisions as a markdown document for the branch: every choice the policy
    made at a stop for a person, and every question the agents answered (from which
    document and line, or by the model with what confidence), or asked a person."""
    rows = [_engine_decision(d) for d in decisions] + [_agent_decision(a) for a in answers]
    return render("runs/decisions.md.j2", workflow=workflow, rows=rows)


def pull_request(
    view: RunView,
    *,
    outputs: Sequence[str],
    steps_done: Sequence[str],
    decisions: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]] = (),
    log_path: str = "",
) -> tuple[str, str]:
    """(title, body) of the run's pull request."""
    rows = [_engine_decision(d) for d in decisions] + [_agent_decision(a) for a in answers]
    title = f"{view.workflow}: {', '.join(outputs[:2]) or 'its outputs'}"
    body = render(
        "runs/pull_request.md.j2",
        run=view,
        outputs=outputs,
        steps=steps_done,
        rows=rows,
        log_path=log_path,
    )
    return title[:200], f"{body}\n\n{marker('pull', view.run_id)}"


_HEADING = re.compile(r"^\s*#{1,6}\s")
_HALT = re.compile(r"^\s*HALT\b.*$")
_OPTION_LINE = re.compile(r"^[\s>*-]*\[[A-Za-z0-9]{1,3}\]\s")


def headline(question: object, *, options: bool = True) -> str:
    """A workflow's question as a person reads it, on one line: without its markdown
    headings (`## MENU`) and the workflow's own "HALT and wait" lines; its options too, for
    a title (`options=False`), unless nothing else is left."""
    lines = [
        line
        for line in str(question or "").splitlines()
        if line.strip() and not _HEADING.match(line) and not _HALT.match(line)
    ]
    if not options:
        lines = [line for line in lines if not _OPTION_LINE.match(line)] or lines
    return " ".join(" ".join(lines).split()) or " ".join(str(question or "").split())


def _one_line(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"
