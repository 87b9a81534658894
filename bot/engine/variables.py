"""BMAD's variables: `{project-root}`, `{config_source}:key`, `{installed_path}`,
`{skill-root}`, `{workflow.x}` and the system values.

Single braces are the engine's to fill; what it does not know it leaves as written. Double
braces (`{{story_key}}`) are placeholders for the agent inside BMAD's templates: the engine fills
the ones it knows and never fails on the rest. (The design's first implementation died on
`Undefined variable: {{current_year}}`.)
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

_SINGLE = re.compile(r"(?<!\{)\{([A-Za-z_][\w.-]*)\}(?!\})")
_DOUBLE = re.compile(r"\{\{\s*\.?([A-Za-z_][\w.-]*)\s*\}\}")
_CONFIG_REF = re.compile(r"^\{config_source\}:([\w.-]+)$")
#: How deep variables may refer to each other before the rest is left as written.
MAX_PASSES = 8
#: The most characters one expanded value may have; a larger one (a variable-expansion bomb,
#: `v1: "{v0}{v0}…"` nine levels deep) is left as written and reported.
MAX_VALUE_CHARS = 100_000


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
        expanded = _SINGLE.sub(single, result)
        if expanded == result or len(expanded) > MAX_VALUE_CHARS:
            break
        result = expanded
    if placeholders:

        def double(match: re.Match[str]) -> str:
            value = values.get(match.group(1))
            return (
                match.group(0) if value is None or isinstance(value, (dict, list)) else str(value)
            )

        result = _DOUBLE.sub(double, result)
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
    itself, directly or in a cycle, keeps the reference as written; so does one whose value
    would grow past `MAX_VALUE_CHARS`, and its name goes into `oversized`.
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

        result = _SINGLE.sub(fill, value)
        if len(result) > MAX_VALUE_CHARS:
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
