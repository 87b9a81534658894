"""A story file's own status (a `Status:` line, a `## Status` section or a status table
row), where the file lives, and where it disagrees with `sprint-status.yaml`.

`sprint-status.yaml` wins (README, "Which status wins"): it is the sprint's truth on the
default branch, the file BMAD's own sprint workflows read. A story file that says otherwise
is shown as a disagreement; the bot never rewrites either to match the other.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from bot.engine.variables import as_path
from bot.project.sprint_status import SprintStatus
from bot.project.statuses import known

_LINE = re.compile(r"^\s*(?:[-*]\s+)?[*_]{0,2}status[*_]{0,2}\s*:\s*[*_]{0,2}\s*(.+)$", re.I)
_HEADING = re.compile(r"^#{1,6}\s*status\s*:?\s*$", re.I)
_ROW = re.compile(r"^\s*\|\s*[*_]{0,2}status[*_]{0,2}\s*\|\s*([^|]+?)\s*\|", re.I)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_DRIVE = re.compile(r"^[A-Za-z]:/")


def status_in(text: str) -> str | None:
    """The status a story file states first, as written (markdown taken off), or None."""
    fenced, section = False, False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if section:
            if line.strip():
                return _clean(line) if not line.lstrip().startswith("#") else None
            continue
        if _HEADING.match(line):
            section = True
            continue
        match = _LINE.match(line) or _ROW.match(line)
        if match:
            return _clean(match.group(1))
    return None


def _clean(value: str) -> str | None:
    value = value.strip().strip("*_`").strip()
    value = re.split(r"\s+(?:\(|—|-\s|#)", value, maxsplit=1)[0].strip().strip("*_`")
    return value or None


def story_folder(sprint: SprintStatus, default: str) -> str:
    """The folder story files are in: the file's `story_location` when it names a folder in
    the repository, else `default` (the sprint status's own folder). Windows and absolute
    locations (written on someone's machine) cannot name one here."""
    location = sprint.settings.get("story_location", "").strip()
    if not location or "{" in location:
        return default
    path = as_path(location)
    if _DRIVE.match(path) or PurePosixPath(path).is_absolute():
        return default
    return path.rstrip("/").removeprefix("./") or default


@dataclasses.dataclass(frozen=True)
class Disagreement:
    key: str
    in_sprint_status: str | None
    in_story_file: str | None
    path: str

    @property
    def winner(self) -> str | None:
        return self.in_sprint_status  # see the module's docstring


def disagreements(
    sprint: SprintStatus, story_statuses: Mapping[str, tuple[str, str | None]]
) -> list[Disagreement]:
    """Stories whose file (`key → (path, status)`) states another status than the sprint
    status does. Variants of one status (`Done`, `done`) agree; a file without a status
    has nothing to disagree with."""
    found = []
    for entry in sprint.stories():
        if entry.key not in story_statuses:
            continue
        path, stated = story_statuses[entry.key]
        if stated is None:
            continue
        ours, theirs = entry.known, known(stated, entry.kind)
        same = ours == theirs if ours and theirs else (entry.status or "").lower() == stated.lower()
        if not same:
            found.append(Disagreement(entry.key, entry.status, stated, path))
    return found


def read_story_statuses(
    repository: Path, sprint: SprintStatus, folder: str
) -> dict[str, tuple[str, str | None]]:
    """`key → (path, status)` for every story whose file `<folder>/<key>.md` exists."""
    found = {}
    for entry in sprint.stories():
        relative = f"{folder}/{entry.key}.md"
        path = repository / relative
        if path.is_file():
            found[entry.key] = (relative, status_in(path.read_text(encoding="utf-8")))
    return found
