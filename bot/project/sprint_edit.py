"""The one writer of `sprint-status.yaml`: status changes applied as edits of the status
scalars alone, then verified by reading the result again.

Why an edit of the scalar and not ruamel.yaml's round trip: people share this file with BMAD
in their editors, and a round trip re-emits the whole document. ruamel keeps comments but
re-flows what it does not model (the spaces between `key:` and the value, flow-map spacing,
indentation of nested blocks, lines past its width, CRLF endings), so a one-status change
would show up as many changed lines in a person's diff. Here the parser (PyYAML's libyaml
composer, already a dependency and about ten times faster than ruamel's round-trip loader)
only says where each status scalar starts and ends; the change replaces those characters,
in the scalar's own quoting, and nothing else. The result is parsed again and must differ
from the original in exactly the intended statuses, or nothing is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from bot.engine.checkpoint import atomic_write
from bot.project.sprint_status import SprintEntry, SprintStatus, SprintStatusError, decode, parse
from bot.project.statuses import BLOCKED, known, rank

Who = Literal["bot", "person"]


@dataclasses.dataclass(frozen=True)
class Change:
    """Set `key` to `status`, asked by the bot or by a person (a person may move a story
    backwards or out of a status BMAD does not know; the bot may not). `seen` is the status
    the change was decided on: when the file says otherwise now, someone changed the story
    meanwhile and their change stands."""

    key: str
    status: str
    by: Who = "bot"
    seen: str | None = None
    login: str = ""  # the person's, for the commit message


@dataclasses.dataclass(frozen=True)
class ChangeOutcome:
    change: Change
    before: str | None  # the status as written before this change
    written: bool
    reason: str = ""  # why it was not written


class EditNotVerified(SprintStatusError):
    """The edited text did not read back as the intended change: nothing is written."""


def refusal(change: Change, entry: SprintEntry | None, before: str | None) -> str:
    """Why `change` is not written over `before` (the key's status now), or "" to write it."""
    if change.status.strip().lower() == BLOCKED:
        return "blocked is not a BMAD status: it lives in the story's label and run state"
    if entry is None:
        return f"{change.key} is not in development_status"
    if entry.span is None:
        return f"{change.key} has no status value to change"
    if known(change.status, entry.kind) != change.status:
        return f"{change.status!r} is not a BMAD status for this {entry.kind}"
    if change.seen is not None and _same(change.seen, before, entry) is False:
        return f"{change.key} changed to {before!r} since {change.seen!r} was read; that stands"
    if known(before, entry.kind) == change.status:
        return f"{change.key} is {before!r} already"
    if change.by == "bot":
        was = rank(before, entry.kind)
        if was is None:
            return f"{before!r} is a status the bot does not know: only a person changes it"
        now = rank(change.status, entry.kind)
        if now is not None and now < was:
            return f"the bot never moves {change.key} backwards ({before} → {change.status})"
    return ""


def _same(seen: str, before: str | None, entry: SprintEntry) -> bool:
    ours, theirs = known(seen, entry.kind), known(before, entry.kind)
    if ours is None or theirs is None:
        return seen == before
    return ours == theirs


def apply(text: str, changes: Sequence[Change], path: str = "") -> tuple[str, list[ChangeOutcome]]:
    """`text` with `changes` written (in order: a later change to a key in the batch sees the
    earlier one), and what became of each. SprintStatusError when the file may not be
    written; the text is then returned by nobody."""
    return apply_parsed(parse(text, path), changes, path)


def apply_parsed(
    current: SprintStatus, changes: Sequence[Change], path: str = ""
) -> tuple[str, list[ChangeOutcome]]:
    """`apply` to a file already parsed."""
    text = current.text
    statuses = {key: entry.status for key, entry in current.entries.items()}
    outcomes = []
    for change in changes:
        entry = current.entries.get(change.key)
        before = statuses.get(change.key)
        why = refusal(change, entry, before)
        if not why:
            statuses[change.key] = change.status
        outcomes.append(ChangeOutcome(change, before, not why, why))
    wanted = {
        key: status for key, status in statuses.items() if status != current.entries[key].status
    }
    if not wanted:
        return text, outcomes
    edited = _edit(current, wanted)
    _verify(current, edited, wanted, path)
    return edited, outcomes


def _edit(current: SprintStatus, wanted: dict[str, str | None]) -> str:
    spans = sorted(
        ((current.entries[key], status) for key, status in wanted.items()),
        key=lambda pair: pair[0].span.start if pair[0].span else 0,
    )
    pieces, at = [], 0
    for entry, status in spans:
        assert entry.span is not None and status is not None
        quote = entry.span.style
        pieces += [current.text[at : entry.span.start], f"{quote}{status}{quote}"]
        at = entry.span.end
    pieces.append(current.text[at:])
    return "".join(pieces)


def _verify(current: SprintStatus, edited: str, wanted: dict[str, str | None], path: str) -> None:
    try:
        after = parse(edited, path)
    except SprintStatusError as exc:
        raise EditNotVerified("edit", f"the edit broke the file: {exc.problem}", exc.line) from exc
    expected = {
        key: dataclasses.replace(entry, status=wanted.get(key, entry.status), span=None)
        for key, entry in current.entries.items()
    }
    got = {key: dataclasses.replace(entry, span=None) for key, entry in after.entries.items()}
    if list(got) != list(expected) or got != expected or after.settings != current.settings:
        changed = sorted(k for k in expected if got.get(k) != expected[k])
        raise EditNotVerified("edit", f"the edit changed more than asked: {changed}", None, path)


def read(path: Path) -> str:
    """The file's text exactly (CRLF and a byte-order mark kept)."""
    return decode(path.read_bytes(), str(path))


def change_file(path: Path, changes: Sequence[Change]) -> list[ChangeOutcome]:
    """Apply `changes` to the file at `path` in place (atomically; untouched when nothing
    changed or when it may not be written)."""
    text = read(path)
    edited, outcomes = apply(text, changes, str(path))
    if edited != text:
        atomic_write(path, edited.encode("utf-8"))
    return outcomes
