"""A story as the developer loop needs it: its key, title, file, acceptance criteria, and the
documents and code that go with it to the model."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from bot.engine.confine import Confinement

#: Where BMAD installs put story files (newest first), then anywhere in the repository.
STORY_FOLDERS = ("_bmad-output/implementation-artifacts", "docs/stories", "stories", "docs")
ARCHITECTURE_GLOBS = ("**/architecture*.md", "**/*architecture*.md")
#: What goes to the model beside the story: at most so many files of so many characters.
MAX_FILES = 12
MAX_FILE_CHARS = 20_000
MAX_LISTING = 300
_CRITERIA = re.compile(r"^#+\s*acceptance criteria\s*$", re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^#+\s", re.MULTILINE)
_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(?:\[[ xX]\]\s*)?(.+)$")
_TITLE = re.compile(r"^#\s+(.+)$", re.MULTILINE)
_NUMBER = re.compile(r"^(\d+-\d+)(?:-|$)")
_PATH = re.compile(r"`([\w./-]+\.\w+)`")


@dataclasses.dataclass(frozen=True, slots=True)
class Story:
    key: str  # BMAD's `N-M-slug`
    title: str
    path: str  # the story file, repository-relative
    text: str
    criteria: tuple[str, ...]
    issue: int | None = None  # the story's issue on GitHub, when there is one

    @property
    def short(self) -> str:
        """`1-2` of `1-2-validate-login`: how commits and titles name the story."""
        found = _NUMBER.match(self.key)
        return found.group(1) if found else self.key


def find(worktree: Path, key: str, issue: int | None = None) -> Story:
    """The story file for `key`; FileNotFoundError when the repository has none."""
    for folder in (*STORY_FOLDERS, "."):
        base = worktree / folder
        found = sorted(base.glob(f"{key}*.md")) if base.is_dir() else []
        if not found and folder == ".":
            found = sorted(p for p in worktree.rglob(f"{key}*.md") if ".git" not in p.parts)
        if found:
            path = found[0]
            text = path.read_text(errors="replace")
            return Story(
                key, title(text, key), path.relative_to(worktree).as_posix(), text,
                criteria(text), issue,
            )  # fmt: skip
    raise FileNotFoundError(f"no story file for {key} (looked for {key}*.md)")


def title(text: str, key: str) -> str:
    heading = _TITLE.search(text)
    found = heading.group(1).strip() if heading else key
    # BMAD's heading is `Story 1.2: Validate the login form`: the words after the number.
    return re.sub(r"^story\s+[\d.]+\s*[:-]\s*", "", found, flags=re.IGNORECASE) or key


def criteria(text: str) -> tuple[str, ...]:
    """The items under the story's `Acceptance Criteria` heading, in order."""
    heading = _CRITERIA.search(text)
    if heading is None:
        return ()
    rest = text[heading.end() :]
    following = _HEADING.search(rest)
    section = rest[: following.start()] if following else rest
    return tuple(m.group(1).strip() for ln in section.splitlines() if (m := _ITEM.match(ln)))


def documents(worktree: Path, story: Story, confinement: Confinement) -> dict[str, str]:
    """The story, the architecture, and the code the story names (what an agent may read)."""
    chosen = [story.path]
    for pattern in ARCHITECTURE_GLOBS:
        chosen += sorted(
            p.relative_to(worktree).as_posix() for p in worktree.glob(pattern) if p.is_file()
        )
    chosen += _PATH.findall(story.text)
    shown: dict[str, str] = {}
    for relative in dict.fromkeys(chosen):
        if len(shown) >= MAX_FILES:
            break
        path = worktree / relative
        if confinement.hidden(relative) is None and path.is_file() and not path.is_symlink():
            shown[relative] = path.read_text(errors="replace")[:MAX_FILE_CHARS]
    return shown


def listing(worktree: Path, confinement: Confinement) -> str:
    """The repository's files an agent may see, one a line (the map it starts from)."""
    names: list[str] = []
    for folder, dirs, files in os.walk(worktree):
        here = Path(folder).relative_to(worktree).as_posix()
        dirs[:] = sorted(d for d in dirs if confinement.visible(_join(here, d)))
        names += [_join(here, f) for f in sorted(files) if confinement.visible(_join(here, f))]
        if len(names) >= MAX_LISTING:
            return "\n".join([*names[:MAX_LISTING], "…"])
    return "\n".join(names)


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"
