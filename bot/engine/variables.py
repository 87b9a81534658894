"""BMAD's variables: `{project-root}`, `{config_source}:key`, `{installed_path}`,
`{skill-root}`, `{workflow.x}` and the system values.

Single braces are the engine's to fill; what it does not know it leaves as written. Double
braces (`{{story_key}}`) are placeholders for the agent inside BMAD's templates: the engine fills
the ones it knows and never fails on the rest. (The design's first implementation died on
`Undefined variable: {{current_year}}`.)
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Callable, Mapping
from typing import Any

_SINGLE = re.compile(r"(?<!\{)\{([A-Za-z_][\w.-]*)\}(?!\})")
_DOUBLE = re.compile(r"\{\{\s*\.?([A-Za-z_][\w.-]*)\s*\}\}")
_CONFIG_REF = re.compile(r"^\{config_source\}:([\w.-]+)$")
#: How deep variables may refer to each other before the rest is left as written.
MAX_PASSES = 8
#: How many characters expanding may add to a text; beyond that (a variable-expansion bomb,
#: `v1: "{v0}{v0}…"` nine levels deep) a variable is left as written and reported.
MAX_VALUE_CHARS = 100_000
#: How many characters filling a text (an instruction, a template) may add in one pass: room
#: for the input documents it names, never gigabytes.
MAX_TEXT_GROWTH = 1_000_000


class _TooLarge(Exception):
    """Expanding would grow a text past its bound."""


def _bounded_sub(
    pattern: re.Pattern[str],
    fill: Callable[[re.Match[str]], str],
    text: str,
    limit: int = MAX_VALUE_CHARS,
) -> str:
    """`pattern.sub(fill, text)`, stopped (`_TooLarge`) as soon as it has grown the text by
    more than `limit` characters, before the result is built."""
    grown = 0

    def counted(match: re.Match[str]) -> str:
        nonlocal grown
        replacement = fill(match)
        grown += len(replacement) - len(match.group(0))
        if grown > limit:
            raise _TooLarge
        return replacement

    return pattern.sub(counted, text)


def system_values(today: datetime.date | None = None) -> dict[str, str]:
    """What BMAD calls "system-generated"."""
    today = today or datetime.date.today()
    return {
        "date": today.isoformat(),
        "current_date": today.isoformat(),
        "current_year": str(today.year),
    }


def expand(text: str, values: Mapping[str, Any], *, placeholders: bool = False) -> str:
    """Fill `{name}` from `values` (and `{{name}}` too when `placeholders`); keep the rest."""

    def single(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None or isinstance(value, (dict, list)) else str(value)

    result = text
    for _ in range(MAX_PASSES):
        try:
            expanded = _bounded_sub(_SINGLE, single, result, MAX_TEXT_GROWTH)
        except _TooLarge:
            break  # what is left stays as written
        if expanded == result:
            break
        result = expanded
    if placeholders:

        def double(match: re.Match[str]) -> str:
            value = values.get(match.group(1))
            return (
                match.group(0) if value is None or isinstance(value, (dict, list)) else str(value)
            )

        with contextlib.suppress(_TooLarge):
            result = _bounded_sub(_DOUBLE, double, result, MAX_TEXT_GROWTH)
    return result


def resolve(
    declared: Mapping[str, Any],
    config: Mapping[str, Any],
    base: Mapping[str, Any],
    *,
    oversized: set[str] | None = None,
) -> dict[str, Any]:
    """A workflow's variables with config references, system values and each other filled.

    `base` holds what the engine knows before the workflow speaks (`project-root`,
    `installed_path`, `skill-root`, system values, config values). A variable that refers to
    itself, directly or in a cycle, keeps the reference as written; so does one that would
    grow by more than `MAX_VALUE_CHARS`, and its name goes into `oversized`.
    """
    # Config values refer to each other (`implementation_artifacts: "{output_folder}/…"`) in
    # the config's own scope, before a workflow redeclares one of those names.
    too_large = oversized if oversized is not None else set()
    scope = _resolve_scope({**config, **base}, too_large)
    raw: dict[str, Any] = dict(scope)
    nested = declared.get("variables")  # early alphas group some under `variables:`
    if isinstance(nested, Mapping):
        declared = {**declared, **nested}
    for key, value in declared.items():
        if isinstance(value, str):
            reference = _CONFIG_REF.match(value.strip())
            if reference:
                found = scope.get(reference.group(1))
                raw[key] = found if found is not None else value
                continue
            if value.strip() == "system-generated":
                raw[key] = base.get(key) or base.get("date")
                continue
        raw[key] = value
    return _resolve_scope(raw, too_large)


def _resolve_scope(raw: Mapping[str, Any], oversized: set[str]) -> dict[str, Any]:
    done: dict[str, Any] = {}

    def value_of(key: str, visiting: set[str]) -> Any:
        if key in done:
            return done[key]
        value = raw.get(key)
        if not isinstance(value, str) or "{" not in value:
            done[key] = value
            return value
        if key in visiting:
            return None  # a cycle: leave the reference as written
        visiting.add(key)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            found = value_of(name, visiting) if name in raw else None
            scalar = found is not None and not isinstance(found, (dict, list))
            return str(found) if scalar else match.group(0)

        try:
            result = _bounded_sub(_SINGLE, fill, value)
        except _TooLarge:
            oversized.add(key)
            result = value
        visiting.discard(key)
        done[key] = result
        return result

    return {key: value_of(key, set()) for key in raw}


def alternatives(value: str) -> list[str]:
    """BMAD's `a || b` ("the first of these that exists"), as a list."""
    return [part.strip() for part in value.split("||") if part.strip()]


def as_path(value: str) -> str:
    """A config value used as a path: Windows separators become `/`."""
    return value.replace("\\", "/")
