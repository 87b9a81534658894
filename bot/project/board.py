"""What the status issue shows, as plain data: the sprint grouped into epics with each
story's status and link, progress, agents at work, cost against budget, open escalations,
the last events and the story files that disagree. Built from the sprint status; no I/O."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

from bot.project.sprint_status import SprintStatus
from bot.project.statuses import STORY, epic_of
from bot.project.story_files import Disagreement


@dataclasses.dataclass(frozen=True)
class BoardStory:
    key: str
    status: str  # as written ("" when the file gives none)
    known: str | None  # BMAD's word for it, None when BMAD has none
    url: str

    @property
    def shown(self) -> str:
        """The status a person reads: BMAD's word, else exactly what the file says."""
        return self.known or self.status or "no status"


@dataclasses.dataclass(frozen=True)
class Epic:
    key: str
    status: str
    url: str
    stories: tuple[BoardStory, ...]
    retrospective: str = ""

    @property
    def counts(self) -> dict[str, int]:
        return ordered_counts(self.stories)

    @property
    def done(self) -> int:
        return sum(1 for s in self.stories if s.known == "done")


@dataclasses.dataclass(frozen=True)
class AgentAtWork:
    persona: str
    workflow: str
    target: str  # the story or document it works on
    url: str = ""


@dataclasses.dataclass(frozen=True)
class OpenEscalation:
    title: str
    url: str


@dataclasses.dataclass(frozen=True)
class Event:
    when: str
    text: str


@dataclasses.dataclass(frozen=True)
class Board:
    repository: str
    phase: str
    epics: tuple[Epic, ...]
    cost_usd: float = 0.0
    budget_usd: float | None = None
    agents: tuple[AgentAtWork, ...] = ()
    escalations: tuple[OpenEscalation, ...] = ()
    events: tuple[Event, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    file_url: str = ""  # the sprint status on the default branch
    note: str = ""  # work under way on the board itself (story issues still to create)

    @property
    def stories(self) -> list[BoardStory]:
        return [s for e in self.epics for s in e.stories]

    @property
    def counts(self) -> dict[str, int]:
        return ordered_counts(self.stories)


def ordered_counts(stories: Sequence[BoardStory]) -> dict[str, int]:
    """Stories per status: BMAD's in its order, then the others as written, most first."""
    counts = Counter(s.shown for s in stories)
    known = {status: counts.pop(status) for status in STORY if status in counts}
    return known | dict(counts.most_common())


def epics_of(
    sprint: SprintStatus, links: Mapping[str, str] | None = None, file_url: str = ""
) -> tuple[Epic, ...]:
    """The sprint's stories under their epics, in the file's order. A story links to its
    issue when `links` has one, else to its line in the sprint status. A story whose epic
    has no key of its own (`5-cp11-…` under `epic-5h`) goes under the epic above it."""
    links = links or {}
    groups: dict[str, list[BoardStory]] = {}
    epic_entries: set[str] = set()
    retrospectives: dict[str, str] = {}
    keys = set(sprint.entries)
    above = "other"  # the last epic above in the file
    for entry in sprint:
        if entry.kind == "epic":
            epic_entries.add(entry.key)
            above = entry.key
            groups.setdefault(entry.key, [])
        elif entry.kind == "retrospective":
            retrospectives[entry.key.rsplit("-", 1)[0]] = entry.status or ""
        elif entry.kind == "story":
            named = epic_of(entry.key)
            epic = named if named in keys else (above if above != "other" else named or above)
            url = links.get(entry.key) or (f"{file_url}#L{entry.line}" if file_url else "")
            story = BoardStory(entry.key, entry.status or "", entry.known, url)
            groups.setdefault(epic, []).append(story)
    epics = []
    for key, stories in groups.items():
        own = sprint.entries.get(key) if key in epic_entries else None
        url = links.get(key) or (f"{file_url}#L{own.line}" if file_url and own else "")
        status = (own.known or own.status or "") if own else ""
        epics.append(Epic(key, status, url, tuple(stories), retrospectives.get(key, "")))
    return tuple(epics)
