"""Prose instructions (step files, `SKILL.md`, `workflow.md`) and the chains of step files.

A section of markdown is one instruction for the agent. What a person at the keyboard was
meant to do stands out: the A/P/C menus at the end of step files become `menu` instructions
and "HALT"/"wait for user input" becomes `halt`, so the autonomy policy sees every such point.
Step files are linked through their front matter (`nextStepFile`, `continueStepFile`, …) and
the paths their text names; every link becomes an edge, branches included.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.engine.files import PathRefused, RepoFiles
from bot.engine.model import Instruction, Source, Step
from bot.engine.variables import expand

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_MENU_OPTION = re.compile(r"\[([A-Z0-9]{1,3})\]")
_HALT = re.compile(
    r"\b(HALT|wait for (?:the )?user(?:'s)? (?:input|selection|response))", re.IGNORECASE
)
_STEP_REFERENCE = re.compile(r"[^\s`'\"()<>\[\]]*step[^\s`'\"()<>\[\]]*\.md")
_FENCE = re.compile(r"^(```|~~~)")


def sections(body: str, path: str, first_line: int) -> list[Instruction]:
    """One instruction per markdown section; menus and halts marked as such."""
    found: list[Instruction] = []
    lines = body.split("\n")
    start, fenced = 0, False
    for index, line in enumerate([*lines, "# end"]):
        if _FENCE.match(line.strip()):
            fenced = not fenced
        if index == len(lines) or (not fenced and _HEADING.match(line) and index > start):
            chunk = "\n".join(lines[start:index]).strip()
            if chunk:
                found.extend(_classify(chunk, Source(path, first_line + start)))
            start = index
    return found


def _classify(chunk: str, where: Source) -> list[Instruction]:
    heading = chunk.split("\n", 1)[0]
    options = set(_MENU_OPTION.findall(chunk))
    if "MENU" in heading.upper() or (len(options) >= 2 and "continue" in chunk.lower()):
        return [Instruction("menu", chunk, where, target=",".join(sorted(options)))]
    found = [Instruction("act", chunk, where)]
    if _HALT.search(chunk):
        found.append(Instruction("halt", _HALT.search(chunk).group(0), where))  # type: ignore[union-attr]
    return found


def step_references(text: str) -> list[str]:
    """Step files a text names, in order (`./step-02-x.md`, `{installed_path}/steps/...`)."""
    seen: list[str] = []
    for match in _STEP_REFERENCE.finditer(text):
        reference = match.group(0)
        if Path(reference).name.startswith("step") and reference not in seen:
            seen.append(reference)
    return seen


def read_chain(
    files: RepoFiles, first: Path, values: Mapping[str, Any], outputs: list[str]
) -> list[Step]:
    """The step files reachable from `first`, each once: `first`, then the rest in the order
    BMAD numbers them (`step-01b-…` after `step-01-…`, a folder's steps together); the flow
    itself is in each step's `next` and branches. A step is its file: two files of one name
    in different folders (`steps-e/step-01-x.md`, `steps-v/step-01-x.md`) are two steps."""
    read: dict[Path, _Read] = {}
    pending: list[Path] = [first]
    while pending:
        path = pending.pop()
        if path in read:
            continue
        found = _read_step(files, path, values, outputs)
        if found is None:
            continue
        read[path] = found
        pending.extend(reversed([t for t in found.links if t not in read]))
    rest = sorted((p for p in read if p != first), key=lambda p: (p.parent.as_posix(), p.name))
    ids = _step_ids([first, *rest] if first in read else rest)
    steps = []
    for path, id_ in ids.items():
        step, found = read[path].step, read[path]
        attrs = dict(step.attrs)
        if found.branches:
            attrs["branches"] = ",".join(ids[t] for t in found.branches)
        steps.append(
            dataclasses.replace(
                step, id=id_, next=tuple(ids[t] for t in found.handover), attrs=attrs
            )
        )
    return steps


def _step_ids(paths: list[Path]) -> dict[Path, str]:
    """A step file's id: its name without `.md`, or where two share a name, its path from the
    folder they have in common (`steps-e/step-01-load-target`)."""
    stems: dict[str, int] = {}
    for path in paths:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    common = Path(os.path.commonpath([p.parent for p in paths])) if paths else Path()
    return {
        p: p.stem if stems[p.stem] == 1 else p.with_suffix("").relative_to(common).as_posix()
        for p in paths
    }


@dataclasses.dataclass
class _Read:
    step: Step
    handover: list[Path]  # the step files it hands over to
    branches: list[Path]
    links: list[Path]  # every step file it leads to


def _read_step(
    files: RepoFiles, path: Path, values: Mapping[str, Any], outputs: list[str]
) -> _Read | None:
    text = files.read_text(path)
    if text is None:
        return None
    fields, body, first_line = files.front_matter(path, text)
    main, branches, named = _links(files, path, fields, body, values)
    # Workflows share step files (create, edit and validate a PRD): read each once per load.
    instructions = list(
        files.memo(("sections", path), lambda: sections(body, files.relative(path), first_line))
    )
    output = fields.get("outputFile")
    if isinstance(output, str) and output.strip():
        outputs.append(output)
        where = files.source(path, 1)
        instructions.append(
            Instruction("template-output", f"this step's part of {output}", where, target=output)
        )
    # Front matter names the hand-over (`nextStepFile`) and the branches (`continueStepFile`,
    # `validationFlow`, …); step files without front-matter links name the next file in prose.
    handover = main if (main or branches) else [t for t in named if t.name > path.name]
    # A step file is read whole by one agent ("read the entire step file before acting");
    # its front matter's values are the step's own variables.
    attrs = {
        "prose": "true",
        **{f"fm.{k}": str(v) for k, v in fields.items() if isinstance(v, (str, int, float, bool))},
    }
    step = Step(
        path.stem, _goal(fields, body), tuple(instructions), files.source(path, 1), attrs=attrs
    )
    return _Read(step, handover, branches, [*main, *branches, *named])


def _goal(fields: Mapping[str, Any], body: str) -> str:
    if isinstance(fields.get("description"), str):
        return str(fields["description"])
    heading = next((m.group(2) for line in body.split("\n") if (m := _HEADING.match(line))), "")
    return heading.strip()


def _links(
    files: RepoFiles, path: Path, fields: Mapping[str, Any], body: str, values: Mapping[str, Any]
) -> tuple[list[Path], list[Path], list[Path]]:
    """Step files this one hands over to: the main line (`next…` keys), the branches (its other
    front-matter links), and other step files its text names."""
    local = {**values, **{k: v for k, v in fields.items() if isinstance(v, str)}}

    def linked(keys: list[str]) -> list[str]:
        return [fields[k] for k in keys if isinstance(fields[k], str) and fields[k].endswith(".md")]

    main_keys = [k for k in fields if k.lower().startswith("next")]
    main = _resolve_links(files, path, local, linked(main_keys))
    others = _resolve_links(files, path, local, linked([k for k in fields if k not in main_keys]))
    branches = [p for p in others if p not in main]
    named = [
        p
        for p in _resolve_links(
            files, path, local, files.memo(("references", path), lambda: step_references(body))
        )
        if p not in main and p not in branches
    ]
    return main, branches, named


def _resolve_links(
    files: RepoFiles, path: Path, local: Mapping[str, Any], candidates: list[str]
) -> list[Path]:
    found: list[Path] = []
    for reference in candidates:
        text = expand(reference, local)
        if "{" in text:
            continue  # names a variable the engine does not know: not a link it can follow
        try:
            target = files.locate(text, base=path.parent)
        except PathRefused as refused:
            files.error(path, 1, str(refused))
            continue
        if (
            target.name.startswith("step")
            and target.is_file()
            and target != path
            and target not in found
        ):
            found.append(target)
    return found
