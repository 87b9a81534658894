"""`<check if="…">` conditions the engine can decide from what it knows — never with `eval`.

BMAD writes conditions for a person or a model to read: "{{story_path}} is provided",
"sprint status file does NOT exist", "mode == 'update'". The engine decides the common shapes
from its variables and the repository; everything else is a yes/no question for the agent
(`None` here).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_VAR = r"\{\{?\s*([\w.-]+)\s*\}?\}|([A-Za-z_][\w.-]*)"
_PROVIDED = re.compile(
    rf"^\s*(?:{_VAR})\s+(?:is|was|are)\s+(not\s+)?(provided|set|given|defined|available|empty)\s*$",
    re.IGNORECASE,
)
_FILE = re.compile(
    rf"^\s*(?:{_VAR})(?:\s+file)?\s+(does\s+not|doesn't|does\s+NOT)?\s*exists?\s*$", re.IGNORECASE
)
_COMPARE = re.compile(rf"^\s*(?:{_VAR})\s*(==|!=|=|is not|is)\s*['\"]?([^'\"]*?)['\"]?\s*$")
_TRUTHY = {"true", "yes", "1", "on"}
_FALSY = {"false", "no", "0", "off", "none", ""}


def decide(
    condition: str, values: Mapping[str, str], exists: Callable[[str], bool | None]
) -> bool | None:
    """True or False when the known values settle the condition, None when they do not."""
    text = condition.strip()
    if match := _PROVIDED.match(text):
        name = match.group(1) or match.group(2)
        negated, word = bool(match.group(3)), match.group(4).lower()
        # Nobody gave a value the run does not know: in an autonomous run, it was not provided.
        value = str(values.get(name, ""))
        present = value.strip() != "" and "{{" not in value
        if word == "empty":
            return not present if not negated else present
        return present != negated
    if match := _FILE.match(text):
        name = match.group(1) or match.group(2)
        if name not in values:
            return None
        found = exists(str(values[name]))
        if found is None:
            return None
        return found != bool(match.group(3))
    if match := _COMPARE.match(text):
        name = match.group(1) or match.group(2)
        if name not in values:
            return None
        actual, wanted = str(values[name]).strip().lower(), match.group(4).strip().lower()
        equal = (
            actual == wanted
            or (actual in _TRUTHY and wanted in _TRUTHY)
            or (actual in _FALSY and wanted in _FALSY)
        )
        return equal if match.group(3) in ("==", "=", "is") else not equal
    return None
