"""Story issues, decided without I/O: one issue per story and per epic of the sprint status,
found again by a hidden marker keyed by its key, with exactly one `story: <status>` label.

`blocked` is the label's alone (never in the file): an issue a person marked blocked keeps
that label whatever the file says, until a person takes it off.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence

from bot.github.markers import marker
from bot.project.board import Epic
from bot.project.statuses import BLOCKED, STORY
from bot.templates import render

PREFIX = "story: "
#: The statuses that have a label (the App creates these on install: bot/github/labels.py).
LABELLED = (*STORY, BLOCKED)
_MARK = re.compile(r"<!-- ao:story:([A-Za-z0-9._:-]+) -->")


def story_mark(key: str) -> str:
    return marker("story", key)


def key_in(body: str | None) -> str | None:
    """The story or epic key an issue's body is marked with (trust it only in the App's)."""
    found = _MARK.search(body or "")
    return found.group(1) if found else None


def label_of(status: str) -> str:
    return f"{PREFIX}{status}"


def statuses_in(labels: Iterable[str]) -> list[str]:
    """The statuses the `story:` labels name, in the order given."""
    return [name[len(PREFIX) :] for name in labels if name.lower().startswith(PREFIX)]


@dataclasses.dataclass(frozen=True)
class Wanted:
    """One issue the sprint asks for: its key, title, body and the one label it carries
    (None for a status that has no label, e.g. `cancelled`: the issue then has none)."""

    key: str
    kind: str  # "story" or "epic"
    title: str
    body: str
    status: str
    label: str | None
    epic: str | None = None  # a story's epic key


def title_of(key: str) -> str:
    """`1-2 User can log in` for `1-2-user-can-log-in`; `Epic 1` for `epic-1`."""
    if key.startswith("epic-"):
        return f"Epic {key.removeprefix('epic-')}"
    parts = key.split("-", 2)
    if len(parts) < 3:
        return key
    words = parts[2].replace("-", " ").replace("_", " ").strip()
    return f"{parts[0]}-{parts[1]} {words[:1].upper()}{words[1:]}"


def wanted(epics: Sequence[Epic], story_files: Mapping[str, str], sprint_url: str) -> list[Wanted]:
    """Every issue the board asks for, each epic before its stories (so they can be linked
    as sub-issues). `story_files` maps a key to its file's URL where the file exists."""
    found = []
    for epic in epics:
        epic_status = epic.status
        if not epic.key.startswith("epic-"):
            epic_key = None
        else:
            epic_key = epic.key
            label = _label(epic_status, epic=True)
            body = render("project/story_issue.md.j2", key=epic.key, kind="epic",
                          status=None if label else epic_status, file_url="",
                          sprint_url=epic.url or sprint_url,
                          stories=epic.stories, mark=story_mark(epic.key))  # fmt: skip
            found.append(Wanted(epic.key, "epic", title_of(epic.key), body, epic_status,
                                label))  # fmt: skip
        for story in epic.stories:
            status = story.known or story.status
            label = _label(story.known)
            body = render("project/story_issue.md.j2", key=story.key, kind="story",
                          status=None if label else story.shown,
                          file_url=story_files.get(story.key, ""),
                          sprint_url=story.url or sprint_url, stories=(),
                          mark=story_mark(story.key))  # fmt: skip
            found.append(Wanted(story.key, "story", title_of(story.key), body, status,
                                label, epic_key))  # fmt: skip
    return found


def _label(status: str | None, *, epic: bool = False) -> str | None:
    if status is None:
        return None
    if epic:  # an epic's statuses are a story's (backlog, in-progress, done)
        return label_of(status) if status in STORY else None
    return label_of(status) if status in LABELLED else None


def label_changes(
    labels: Sequence[str], want: str | None, *, settling: bool = False
) -> tuple[list[str], list[str]]:
    """(labels to add, `story:` labels to remove) so an issue that has `labels` carries
    exactly `want`. A `story: blocked` label stays (a person's) and is then the only one.
    Two status labels on an issue changed a moment ago (`settling`) are a person's change
    whose delivery is on its way: its handler decides, not this."""
    ours = [name for name in labels if name.lower().startswith(PREFIX)]
    if settling and len(ours) > 1 and any(n.lower() == (want or "").lower() for n in ours):
        return [], []
    blocked = label_of(BLOCKED)
    if any(name.lower() == blocked for name in ours):
        return [], [name for name in ours if name.lower() != blocked]
    keep = want.lower() if want else None
    remove = [name for name in ours if name.lower() != keep]
    add = [want] if want and not any(name.lower() == keep for name in ours) else []
    return add, remove


def workable(issue: Mapping[str, object]) -> bool:
    """Whether a story's work may go on: its issue is open (a person closing it stops the
    work, reopening brings it back) and not labelled `story: blocked`."""
    labels = issue.get("labels")
    names = (
        [str(label.get("name")) for label in labels if isinstance(label, dict)]
        if isinstance(labels, list)
        else []
    )
    return issue.get("state") == "open" and BLOCKED not in statuses_in(names)
