"""An epic's own statuses, moved by its stories, and its retrospective (pure): `backlog →
in-progress` when its first story starts, `done` in the same commit as its last story's
`done`, and the epics whose retrospective is due. An epic or retrospective in a status BMAD
does not have (`cancelled`) is a person's: it is never moved."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bot.project.board import epics_of
from bot.project.sprint_edit import Change
from bot.project.sprint_status import SprintStatus
from bot.project.statuses import known


@dataclasses.dataclass(frozen=True, slots=True)
class EpicView:
    key: str  # `epic-1`
    status: str | None  # as written
    stories: tuple[str, ...]  # its stories' keys (grouped as the status issue shows them)
    retrospective: str | None = None  # its retrospective's key, where the file has one
    retrospective_status: str | None = None


def epic_views(sprint: SprintStatus) -> tuple[EpicView, ...]:
    """The epics the file has a key for, each with its stories and its retrospective."""
    retros = {
        e.key.rsplit("-", 1)[0]: e for e in sprint if e.kind == "retrospective"
    }  # `epic-1-retrospective` (or `-retro`) -> epic-1
    found = []
    for epic in epics_of(sprint):
        entry = sprint.entries.get(epic.key)
        if entry is None or entry.kind != "epic":
            continue
        retro = retros.get(epic.key)
        found.append(EpicView(
            epic.key, entry.status, tuple(s.key for s in epic.stories),
            retro.key if retro else None, retro.status if retro else None,
        ))  # fmt: skip
    return tuple(found)


def epic_of(epics: Sequence[EpicView], story: str) -> EpicView | None:
    return next((e for e in epics if story in e.stories), None)


def started(epics: Sequence[EpicView], story: str) -> list[Change]:
    """The story's epic `backlog → in-progress` as the story starts (nothing otherwise)."""
    epic = epic_of(epics, story)
    if epic is None or known(epic.status, "epic") != "backlog":
        return []
    return [Change(epic.key, "in-progress", seen=epic.status)]


def finished(
    epics: Sequence[EpicView], statuses: Mapping[str, str | None], story: str
) -> list[Change]:
    """The story's epic `done` once `story` is done, if every other story of it is."""
    epic = epic_of(epics, story)
    if epic is None or known(epic.status, "epic") not in ("backlog", "in-progress"):
        return []
    after = {**statuses, story: "done"}
    if not all(known(after.get(key)) == "done" for key in epic.stories):
        return []
    return [Change(epic.key, "done", seen=epic.status)]


def retrospectives_due(
    epics: Sequence[EpicView], statuses: Mapping[str, str | None]
) -> list[EpicView]:
    """The epics whose stories are all done and whose retrospective is still `optional` (an
    epic a person put in a status of their own, `cancelled`, has none)."""
    return [
        epic
        for epic in epics
        if epic.stories
        and known(epic.status, "epic") is not None
        and epic.retrospective is not None
        and known(epic.retrospective_status, "retrospective") == "optional"
        and all(known(statuses.get(key)) == "done" for key in epic.stories)
    ]
