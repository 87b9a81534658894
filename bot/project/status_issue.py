"""The status issue's body ("Agent Orchestrator status"): the board rendered to Markdown,
kept under GitHub's 65,536-character body limit however large the sprint.

Collapsing (`<details>`) hides, it does not shorten: past `LIST_STORY_LIMIT` stories, or
whenever the full list would not fit, each epic is one row with its counts and a link instead
of every story; the diagram shows epics alone past `mermaid.STORY_LIMIT` stories.
"""

from __future__ import annotations

from bot.github.markers import marker
from bot.project.board import Board, BoardStory
from bot.project.mermaid import diagram
from bot.templates import render

TITLE = "Agent Orchestrator status"
MARK = marker("status", "repository")
#: GitHub refuses an issue body longer than this (characters).
MAX_BODY = 65_536
#: Past this many stories the list is per-epic counts (a full list would not fit anyway).
LIST_STORY_LIMIT = 300
EVENTS_SHOWN = 10
_BAR = 20


def body(board: Board) -> str:
    """The issue's body: the whole list when it fits, else per-epic counts; the events and
    epic rows are cut (saying how many) only if even that would not fit."""
    stories = board.stories
    full = len(stories) <= LIST_STORY_LIMIT
    text = _render(board, full=full, epic_rows=len(board.epics))
    if full and len(text) > MAX_BODY:
        text = _render(board, full=False, epic_rows=len(board.epics))
    rows = len(board.epics)
    while len(text) > MAX_BODY and rows > 1:
        rows //= 2
        text = _render(board, full=False, epic_rows=rows)
    return text


def _render(board: Board, *, full: bool, epic_rows: int) -> str:
    stories = board.stories
    done = sum(1 for s in stories if s.known == "done")
    share = done / len(stories) if stories else 0.0
    spent = None
    if board.budget_usd:
        spent = round(100 * board.cost_usd / board.budget_usd)
    return render(
        "project/status_issue.md.j2",
        title=TITLE,
        board=board,
        total=len(stories),
        done=done,
        percent=round(100 * share),
        bar="█" * round(_BAR * share) + "░" * (_BAR - round(_BAR * share)),
        counts=board.counts,
        full=full,
        by_status=_by_status,
        epics=board.epics[:epic_rows],
        hidden_epics=len(board.epics) - epic_rows,
        spent_percent=spent,
        events=board.events[-EVENTS_SHOWN:][::-1],
        diagram=diagram(board, max_epics=epic_rows) if board.epics else "",
        mark=MARK,
    )


def _by_status(stories: tuple[BoardStory, ...]) -> dict[str, list[BoardStory]]:
    grouped: dict[str, list[BoardStory]] = {}
    for story in stories:
        grouped.setdefault(story.shown, []).append(story)
    return grouped
