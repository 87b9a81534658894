"""The order stories run and merge in: their dependencies, read from the story files and the
epics (a line `Depends on: 1-2, 1.3`), a cycle as a typed result (an escalation, never a
hang), which stories to start now up to `max_concurrent_agents`, which of the stories ready
to merge may merge now (two touching the same files, one after the other), and which
dependants become ready once a story is done. Pure: the callers read files and GitHub."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path, PurePosixPath

from bot.project.statuses import known
from bot.stories.story import STORY_FOLDERS

#: `Depends on: 1-2, 1.3` (also `Dependencies:`, `Requires:`, in bold or a list item).
_DEPENDS = re.compile(
    r"^[ \t]*(?:[-*][ \t]*)?\**[ \t]*(?:depends on|dependencies|requires)[ \t]*\**[ \t]*:"
    r"[ \t]*\**(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_REF = re.compile(r"\b(\d+)[.-](\d+)\b")
_NUMBER = re.compile(r"^(\d+)-(\d+)(?:-|$)")
#: An epics file's story heading: `### Story 1.2: Validate the login form`.
_STORY_HEADING = re.compile(r"^#{2,4}\s+story\s+(\d+)[.-](\d+)\b.*$", re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^#{1,4}\s", re.MULTILINE)
EPIC_GLOBS = ("**/epics.md", "**/epic-*.md", "**/epics/*.md")
#: The statuses a story may be started from (in-progress: a run cut short, started again).
STARTABLE = ("ready-for-dev", "in-progress")


@dataclasses.dataclass(frozen=True, slots=True)
class DependencyCycle:
    """Stories that depend on each other in a ring: none can start; a person decides."""

    keys: tuple[str, ...]  # the ring, its first key again at the end

    def text(self) -> str:
        return " → ".join(self.keys)


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    start: tuple[str, ...]  # to start now, in order
    waiting: Mapping[str, tuple[str, ...]]  # startable stories -> the dependencies not done


def short(key: str) -> str:
    found = _NUMBER.match(key)
    return f"{found.group(1)}-{found.group(2)}" if found else key


def references(text: str) -> list[str]:
    """The stories (as `1-2`) the text's dependency lines name."""
    refs: list[str] = []
    for line in _DEPENDS.findall(text):
        refs += [f"{a}-{b}" for a, b in _REF.findall(line)]
    return list(dict.fromkeys(refs))


def epic_references(text: str) -> dict[str, list[str]]:
    """`1-2` -> the stories its section of an epics file depends on."""
    found: dict[str, list[str]] = {}
    headings = list(_STORY_HEADING.finditer(text))
    for heading in headings:
        rest = text[heading.end() :]
        following = _HEADING.search(rest)
        section = rest[: following.start()] if following else rest
        found[f"{heading.group(1)}-{heading.group(2)}"] = references(section)
    return found


def is_planning_file(path: str, keys: Iterable[str]) -> bool:
    """Whether the repository file may name dependencies: an epics file or a story's file."""
    pure = PurePosixPath(path)
    if pure.suffix != ".md":
        return False
    if any(
        pure.match(pattern) or pure.match(pattern.removeprefix("**/")) for pattern in EPIC_GLOBS
    ):
        return True
    return str(pure.parent) in (*STORY_FOLDERS, ".") and any(pure.name.startswith(k) for k in keys)


def dependencies(files: Mapping[str, str], keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each story key -> the keys it depends on, from the repository's story files and epics
    (`files`: path -> text); a story that is not among `keys` is no story of this sprint and
    is left out."""
    keys = list(keys)
    by_short = {short(k): k for k in keys}
    refs: dict[str, list[str]] = {k: [] for k in keys}
    for path in sorted(files):
        name = PurePosixPath(path).name
        story = next((k for k in keys if name.startswith(k)), None)
        if story is not None and str(PurePosixPath(path).parent) in (*STORY_FOLDERS, "."):
            refs[story] += references(files[path])
            continue
        for number, named in epic_references(files[path]).items():
            if number in by_short:
                refs[by_short[number]] += named
    return {
        key: tuple(
            dict.fromkeys(by_short[r] for r in named if r in by_short and by_short[r] != key)
        )
        for key, named in refs.items()
    }


def read_dependencies(root: Path, keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """`dependencies` of the files in a checkout at `root`."""
    keys = list(keys)
    files = {
        path.relative_to(root).as_posix(): path.read_text(errors="replace")
        for path in root.rglob("*.md")
        if ".git" not in path.parts
        and path.is_file()
        and is_planning_file(path.relative_to(root).as_posix(), keys)
    }
    return dependencies(files, keys)


def find_cycle(deps: Mapping[str, Collection[str]]) -> DependencyCycle | None:
    """A ring of dependencies, if there is one (iterative: no recursion limit to hit)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in sorted(deps):
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(root, sorted(deps.get(root, ())))]
        state[root] = 1
        path.append(root)
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop(0)
            if state.get(nxt) == 1:
                ring = path[path.index(nxt) :]
                return DependencyCycle((*ring, nxt))
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(deps.get(nxt, ()))))
    return None


def _order(key: str) -> tuple[int, int, str]:
    found = _NUMBER.match(key)
    return (int(found.group(1)), int(found.group(2)), key) if found else (1 << 30, 0, key)


def schedule(
    statuses: Mapping[str, str | None],
    deps: Mapping[str, Collection[str]],
    running: Collection[str],
    limit: int,
) -> Schedule | DependencyCycle:
    """The stories to start now: startable, not running, every dependency done, at most
    `limit` running in all; or the cycle that keeps some from ever starting."""
    cycle = find_cycle(deps)
    if cycle is not None:
        return cycle
    start: list[str] = []
    waiting: dict[str, tuple[str, ...]] = {}
    room = max(0, limit - len(running))
    for key in sorted(statuses, key=_order):
        if known(statuses[key]) not in STARTABLE or key in running:
            continue
        unmet = tuple(d for d in deps.get(key, ()) if known(statuses.get(d)) != "done")
        if unmet:
            waiting[key] = unmet
        elif len(start) < room:
            start.append(key)
    return Schedule(tuple(start), waiting)


def now_ready(
    statuses: Mapping[str, str | None], deps: Mapping[str, Collection[str]], done: str
) -> list[str]:
    """The dependants of `done` in backlog whose dependencies are all done now."""
    after = {**statuses, done: "done"}
    return [
        key
        for key in sorted(deps, key=_order)
        if done in deps[key]
        and known(after.get(key)) == "backlog"
        and all(known(after.get(d)) == "done" for d in deps[key])
    ]


def merge_turns(ready: Mapping[str, Collection[str]]) -> list[str]:
    """Of the stories ready to merge (key -> the files they change), those that may merge
    now: in story order, one of any that touch the same files (the later one is brought up
    to date with the earlier's merge, and tested again, before its own)."""
    taken: set[str] = set()
    turns = []
    for key in sorted(ready, key=_order):
        files = set(ready[key])
        if files & taken:
            continue
        taken |= files
        turns.append(key)
    return turns
