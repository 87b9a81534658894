"""The status issue's Mermaid diagram: epics and their stories coloured by status, or epics
alone (with their counts) once the sprint is past `STORY_LIMIT` stories, so that it stays
inside Mermaid's defaults on GitHub (500 edges, 50,000 characters)."""

from __future__ import annotations

from collections import defaultdict

from bot.project.board import Board, Epic

#: Past this many stories, the diagram shows epics only (one edge per story below it).
STORY_LIMIT = 200
#: The most epics drawn (about 60 characters each); the rest are one "… more" node.
EPIC_LIMIT = 300
MAX_EDGES = 500
MAX_CHARS = 50_000

#: GitHub's own palette: open green for done, purple for review, and so on.
STYLES = {
    "done": "fill:#1f883d,stroke:#1a7f37,color:#ffffff",
    "review": "fill:#8250df,stroke:#6639ba,color:#ffffff",
    "in-progress": "fill:#bf8700,stroke:#9a6700,color:#ffffff",
    "ready-for-dev": "fill:#0969da,stroke:#0550ae,color:#ffffff",
    "backlog": "fill:#eaeef2,stroke:#8c959f,color:#24292f",
    "optional": "fill:#eaeef2,stroke:#8c959f,color:#24292f",
    "other": "fill:#ffffff,stroke:#cf222e,color:#24292f,stroke-dasharray:4",
}


def _class(status: str) -> str:
    return status.replace("-", "") if status in STYLES else "other"


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def diagram(board: Board, max_epics: int = EPIC_LIMIT) -> str:
    """The Mermaid source (without the fence), with at most `max_epics` epics drawn."""
    stories = sum(len(e.stories) for e in board.epics)
    lines = ["flowchart LR"] if stories <= STORY_LIMIT else ["flowchart TB"]
    members: dict[str, list[str]] = defaultdict(list)
    if stories <= STORY_LIMIT:
        _stories(board.epics, lines, members)
    else:
        _epics_only(board.epics[: min(max_epics, EPIC_LIMIT)], lines, members)
        hidden = len(board.epics) - min(max_epics, EPIC_LIMIT)
        if hidden > 0:
            lines.append(f'  more["… and {hidden} more epics"]')
    for status, style in STYLES.items():
        name = _class(status)
        if members.get(name):
            lines.append(f"  classDef {name} {style}")
            lines.append(f"  class {','.join(members[name])} {name}")
    return "\n".join(lines)


def _stories(epics: tuple[Epic, ...], lines: list[str], members: dict[str, list[str]]) -> None:
    number = 0
    for e, epic in enumerate(epics):
        lines.append(f'  e{e}["{_label(epic.key)}"]')
        members[_class(epic.status)].append(f"e{e}")
        for story in epic.stories:
            lines.append(f'  e{e} --> s{number}["{_label(story.key)}"]')
            members[_class(story.shown)].append(f"s{number}")
            number += 1


def _epics_only(epics: tuple[Epic, ...], lines: list[str], members: dict[str, list[str]]) -> None:
    """Epics in rows of ten, each with its count of done stories."""
    for e, epic in enumerate(epics):
        counts = f"{epic.done}/{len(epic.stories)} done"
        lines.append(f'  e{e}["{_label(epic.key)}<br/>{counts}"]')
        members[_class(epic.status)].append(f"e{e}")
        if e % 10:
            lines.append(f"  e{e - 1} --- e{e}")


def within_limits(source: str) -> bool:
    edges = sum(source.count(arrow) for arrow in (" --> ", " --- "))
    return edges <= MAX_EDGES and len(source) <= MAX_CHARS
