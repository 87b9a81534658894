"""The sprint as the default branch has it now, read from the App's clone (no checkout):
each story's status, the stories it depends on, the epics with their stories and
retrospectives; what `order.schedule`, the merges and the epics' statuses decide on."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from cachetools import LRUCache

from bot.agents.config import CONFIG_PATH, AgentsConfig, parse_config
from bot.git.commit_file import read_files
from bot.git.remote import GitFailed, git
from bot.project.epics import EpicView, epic_views
from bot.project.sprint_status import SprintStatusError, parse
from bot.project.state_commit import StateCommitter
from bot.project.statuses import kind_of
from bot.stories.order import dependencies, is_planning_file


@dataclasses.dataclass(frozen=True, slots=True)
class SprintView:
    tip: str | None  # the default branch's commit read; None when it has none
    statuses: Mapping[str, str | None]  # story key -> status (stories only)
    deps: Mapping[str, tuple[str, ...]]  # story key -> the keys it depends on
    epics: tuple[EpicView, ...] = ()


#: What a commit decides, read once: most passes of a sprint find the default branch where
#: the last one left it (four git processes a pass, a few hundred in a twenty-story sprint).
_VIEWS: LRUCache[tuple[str, str, str], SprintView] = LRUCache(maxsize=64)
_CONFIGS: LRUCache[tuple[str, str], AgentsConfig] = LRUCache(maxsize=64)


async def sprint_view(state: StateCommitter) -> SprintView:
    """The default branch's sprint state and dependencies (fetched now)."""
    remote = state.remote
    tip = await remote.fetch(state.default_branch)
    if tip is None:
        return SprintView(None, {}, {})
    key = (str(remote.clone), tip, state.path)
    if (known := _VIEWS.get(key)) is not None:
        return known
    view, whole = await _read(state, tip)
    if whole:  # what git failed to read is read again by the next pass
        _VIEWS[key] = view
    return view


async def _read(state: StateCommitter, tip: str) -> tuple[SprintView, bool]:
    """The view at `tip`, and whether git read all of it."""
    remote, whole = state.remote, True
    try:
        raw = (await read_files(remote.clone, tip, [state.path], strict=True))[state.path]
    except GitFailed:
        raw, whole = None, False
    try:
        parsed = parse(raw.decode("utf-8", errors="replace"), state.path) if raw else None
    except SprintStatusError:
        parsed = None
    entries = parsed.entries if parsed else {}
    statuses = {k: e.status for k, e in entries.items() if kind_of(k) == "story"}
    try:
        names = (await git("ls-tree", "-r", "--name-only", tip, cwd=remote.clone)).splitlines()
    except GitFailed:
        names, whole = [], False
    planning = [name for name in names if is_planning_file(name, statuses)]
    try:
        read = await read_files(remote.clone, tip, planning, strict=True)
    except GitFailed:
        read, whole = dict.fromkeys(planning), False
    files = {name: (text or b"").decode("utf-8", errors="replace") for name, text in read.items()}
    epics = epic_views(parsed) if parsed else ()
    deps = dependencies(files, statuses)
    view = SprintView(tip, MappingProxyType(statuses), MappingProxyType(dict(deps)), epics)
    return view, whole


async def sprint_config(state: StateCommitter, view: SprintView) -> AgentsConfig:
    """`.github/orchestrator.yml` as the commit the view read has it (defaults without one)."""
    assert view.tip is not None
    key = (str(state.remote.clone), view.tip)
    if (known := _CONFIGS.get(key)) is not None:
        return known
    try:
        found = await read_files(state.remote.clone, view.tip, [CONFIG_PATH], strict=True)
    except GitFailed:  # the defaults this once; the next pass reads it again
        return parse_config("", {}, check_models=False)
    raw = found[CONFIG_PATH]
    text = raw.decode("utf-8", errors="replace") if raw else ""
    _CONFIGS[key] = config = parse_config(text, {}, check_models=False)
    return config
