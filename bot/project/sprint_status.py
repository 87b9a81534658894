"""Reading BMAD's `sprint-status.yaml` as people keep it: every key and status as written,
where each status sits in the text (for the one writer, `sprint_edit`), and a typed refusal
for a file that must not be written (not YAML, duplicate keys, no `development_status`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import yaml

from bot.project.statuses import Kind, kind_of, known

try:  # libyaml: about ten times faster, with the same marks (characters, not bytes)
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,misc,unused-ignore]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

SECTION = "development_status"


class SprintStatusError(Exception):
    """The file cannot be read as a sprint status, so it is never written: `reason` is one
    of "encoding", "yaml", "duplicate-key", "no-development-status"; `problem` and `line` (1-based)
    are the parser's own words and place, for the escalation that quotes them."""

    def __init__(self, reason: str, problem: str, line: int | None, path: str = "") -> None:
        where = f"{path or 'sprint-status.yaml'}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {problem}")
        self.reason = reason
        self.problem = problem
        self.line = line
        self.path = path


@dataclasses.dataclass(frozen=True)
class Span:
    """Where a status scalar sits in the text, and how it is quoted (`'`, `"` or plain)."""

    start: int
    end: int
    style: str


@dataclasses.dataclass(frozen=True)
class SprintEntry:
    """One key of `development_status`: its status exactly as written (None when it has
    none, e.g. an empty value or a mapping without `status`), what BMAD calls it, and the
    other fields of a mapping value (`{status: review, owner: ada}`)."""

    key: str
    status: str | None
    kind: Kind
    line: int
    span: Span | None
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def known(self) -> str | None:
        return known(self.status, self.kind)


@dataclasses.dataclass(frozen=True)
class SprintStatus:
    text: str
    entries: dict[str, SprintEntry]  # in the file's order
    settings: dict[str, str]  # the other top-level scalars: project, story_location, …

    def __iter__(self) -> Iterator[SprintEntry]:
        return iter(self.entries.values())

    def stories(self) -> list[SprintEntry]:
        return [e for e in self if e.kind == "story"]

    def epics(self) -> list[SprintEntry]:
        return [e for e in self if e.kind == "epic"]


def decode(raw: bytes, path: str = "") -> str:
    """The file's text; one that is not UTF-8 (as YAML requires) is refused, never re-encoded."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SprintStatusError("encoding", f"not UTF-8 text: {exc.reason}", line, path) from exc


def parse(text: str, path: str = "") -> SprintStatus:
    """The sprint status in `text`, or SprintStatusError with the parser's message and line."""
    # libyaml skips a byte-order mark without counting it: spans are found in the text after
    # it and shifted back.
    shift = 1 if text.startswith("\ufeff") else 0
    try:
        root = yaml.compose(text[shift:], Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SprintStatusError("yaml", problem, mark.line + 1 if mark else None, path) from exc
    except yaml.YAMLError as exc:
        raise SprintStatusError("yaml", str(exc), None, path) from exc
    if not isinstance(root, yaml.MappingNode):
        raise SprintStatusError(
            "no-development-status", "the file is not a mapping with development_status", 1, path
        )
    _refuse_duplicates(root, path)
    section: yaml.Node | None = None
    settings: dict[str, str] = {}
    for key, value in root.value:
        if key.value == SECTION:
            section = value
        elif isinstance(value, yaml.ScalarNode):
            settings[str(key.value)] = str(value.value)
    if section is None:
        raise SprintStatusError(
            "no-development-status", "there is no development_status mapping", None, path
        )
    entries: dict[str, SprintEntry] = {}
    if isinstance(section, yaml.MappingNode):
        for key, value in section.value:
            entries[str(key.value)] = _entry(str(key.value), value, key.start_mark.line + 1, shift)
    elif not (isinstance(section, yaml.ScalarNode) and section.value in ("", "~", "null")):
        raise SprintStatusError(
            "no-development-status",
            "development_status is not a mapping of keys to statuses",
            section.start_mark.line + 1,
            path,
        )
    return SprintStatus(text, entries, settings)


def _entry(key: str, value: yaml.Node, line: int, shift: int) -> SprintEntry:
    kind = kind_of(key)
    if isinstance(value, yaml.ScalarNode):
        if value.tag == "tag:yaml.org,2002:null" and value.value in ("", "~", "null"):
            return SprintEntry(key, None, kind, line, None)
        return SprintEntry(key, str(value.value), kind, line, _span(value, shift))
    if isinstance(value, yaml.MappingNode):
        fields, status, span = [], None, None
        for k, v in value.value:
            if not isinstance(v, yaml.ScalarNode):
                continue
            if k.value == "status":
                status, span = str(v.value), _span(v, shift)
            else:
                fields.append((str(k.value), str(v.value)))
        return SprintEntry(key, status, kind, line, span, tuple(fields))
    return SprintEntry(key, None, kind, line, None)


def _span(node: yaml.ScalarNode, shift: int) -> Span:
    style = node.style if node.style in ("'", '"') else ""
    return Span(node.start_mark.index + shift, node.end_mark.index + shift, style)


def _refuse_duplicates(node: yaml.Node, path: str) -> None:
    """A key twice in one mapping: YAML says invalid, PyYAML keeps the last; BMAD's tools
    and people would each read a different status, so the file is not ours to write."""
    stack, visited = [node], set[int]()
    while stack:
        current = stack.pop()
        if id(current) in visited:  # an alias met again (or an anchor inside itself)
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else repr(key)
                if name in seen:
                    raise SprintStatusError(
                        "duplicate-key", f"duplicate key {name!r}", key.start_mark.line + 1, path
                    )
                seen.add(name)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
