"""BMAD's status vocabulary: the statuses of each kind of key, their order, and the variants
people write (mapped for reading only; the file keeps what they wrote)."""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["epic", "story", "retrospective", "other"]

STORY = ("backlog", "ready-for-dev", "in-progress", "review", "done")
EPIC = ("backlog", "in-progress", "done")
RETROSPECTIVE = ("optional", "done")
ORDER: dict[Kind, tuple[str, ...]] = {
    "story": STORY,
    "epic": EPIC,
    "retrospective": RETROSPECTIVE,
    "other": (),
}
#: Not a BMAD status: it lives in the story's label and its run state, never in the file.
BLOCKED = "blocked"
#: What BMAD 6.0 wrote; its own sprint planning still reads them this way.
LEGACY = {"drafted": "ready-for-dev", "contexted": "in-progress"}

_EPIC = re.compile(r"^epic-[\w.]+$")
_RETROSPECTIVE = re.compile(r"^epic-[\w.]+-retro(spective)?$")
# `1-2-slug`, `3-2a-slug`, `5-cp11-slug`, `2.5-1-slug`: an epic part, a story part, a slug.
_STORY = re.compile(r"^\d[\w.]*-[\w.]+-.+$")


def kind_of(key: str) -> Kind:
    if _RETROSPECTIVE.match(key):
        return "retrospective"
    if _EPIC.match(key):
        return "epic"
    if _STORY.match(key):
        return "story"
    return "other"


def known(status: str | None, kind: Kind = "story") -> str | None:
    """The BMAD status `status` means (`Done`, `in_progress`, `drafted` → theirs), or None for
    one BMAD does not have (`cancelled`, `done-parcial`): those are shown as written."""
    if status is None:
        return None
    word = re.sub(r"[\s_]+", "-", status.strip().lower())
    word = LEGACY.get(word, word)
    statuses = ORDER[kind] or STORY
    return word if word in statuses else None


def rank(status: str | None, kind: Kind = "story") -> int | None:
    """Where a status stands in its kind's order (backlog first), None when unknown."""
    word = known(status, kind)
    statuses = ORDER[kind] or STORY
    return None if word is None else statuses.index(word)


def epic_of(key: str) -> str | None:
    """`epic-3` for `3-2a-slug` (the part before the first dash), None for other keys."""
    if kind_of(key) != "story":
        return None
    return f"epic-{key.split('-', 1)[0]}"
