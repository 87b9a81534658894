"""How each generation's entry point is read into the model: `workflow.yaml` with its
instructions file, `workflow.md` with step files or XML-tag steps, a task, a `SKILL.md` (with
its step files, its XML steps, or the `workflow.md` it hands over to).

Each reader returns the workflow and its own resolved variables; the loader decides what the
install holds and how its variables are resolved.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.engine import agent_files as agent_readers
from bot.engine.files import PathRefused, RepoFiles
from bot.engine.model import Instruction, Source, Step, Workflow
from bot.engine.prose import read_chain, sections, step_references
from bot.engine.tags import read_instructions
from bot.engine.variables import expand

_XML_FLOW = re.compile(r"<(?:workflow|step)\b")
#: A workflow as read, with its own resolved variables.
Loaded = tuple[Workflow, dict[str, Any]]
#: (entry file, module, its folder, what it declares) -> its resolved variables
Values = Callable[[Path, str | None, Path, dict[str, Any]], dict[str, Any]]
#: "Follow the instructions in ./workflow.md": a 6.2-6.4 skill that is its workflow file.
_DELEGATES = re.compile(
    r"\bfollow the instructions in\s+[`'\"]?((?:\./)?[\w./-]+\.(?:md|ya?ml))", re.IGNORECASE
)


class Readers:
    """The readers of one load, sharing its files, its known values and its variables."""

    def __init__(
        self,
        files: RepoFiles,
        base: dict[str, Any],
        values: Values,
        overrides: Callable[[str], list[dict[str, Any]]],
    ) -> None:
        self.files, self.base, self.values, self.overrides = files, base, values, overrides

    def workflow_yaml(self, path: Path, module: str | None) -> Loaded | None:
        data = self.files.read_yaml(path)
        if not isinstance(data, dict):
            if data is not None:
                self.files.error(path, 1, "workflow.yaml is not a mapping")
            return None
        name = str(data.get("name") or path.parent.name)
        values = self.values(path, module, path.parent, data)
        instructions_ref = values.get("instructions")
        steps: list[Step] = []
        critical: list[Instruction] = []
        aliases: dict[str, str] = {}
        outputs = [str(values[k]) for k in ("default_output_file",) if values.get(k)]
        if isinstance(instructions_ref, str) and instructions_ref:
            instructions = self._locate(instructions_ref, path)
            if instructions is None or not instructions.is_file():
                self.files.error(
                    path,
                    self.files.line_of(path, "instructions"),
                    f"instructions file {instructions_ref!r} not found",
                )
            else:
                steps, critical, aliases = self._instructions_file(instructions)
        else:
            self.files.error(path, 1, "workflow.yaml names no `instructions` file")
        outputs += [
            i.target
            for s in steps
            for i in s.all_instructions()
            if i.kind == "template-output" and i.target and "/" in i.target
        ]
        workflow = Workflow(
            name=name,
            description=str(data.get("description") or ""),
            format="workflow.yaml",
            module=module,
            entry=self.files.source(path),
            steps=tuple(steps),
            variables=data,
            inputs=data.get("input_file_patterns") or {},
            outputs=tuple(outputs),
            template=str(values["template"]) if values.get("template") else None,
            critical=tuple(critical),
            root=self.files.relative(path.parent),
            aliases=aliases,
        )
        return workflow, values

    def _instructions_file(
        self, path: Path
    ) -> tuple[list[Step], list[Instruction], dict[str, str]]:
        text = self.files.read_text(path) or ""
        relative = self.files.relative(path)
        parsed = read_instructions(text, relative)
        if parsed.steps:
            return parsed.steps, parsed.critical, parsed.aliases
        fields, body, first = self.files.front_matter(path, text)
        return [_whole(fields, body, relative, first)], parsed.critical, {}

    def _locate(self, reference: str, base: Path) -> Path | None:
        try:
            return self.files.locate(expand(reference, self.base), base=base.parent)
        except PathRefused as refused:
            self.files.error(base, 1, str(refused))
            return None

    def workflow_md(self, path: Path, module: str | None) -> Loaded | None:
        text = self.files.read_text(path)
        if text is None:
            return None
        fields, body, first_line = self.files.front_matter(path, text)
        name = str(fields.get("name") or path.parent.name)
        values = self.values(path, module, path.parent, fields)
        relative = self.files.relative(path)
        outputs: list[str] = [str(fields["outputFile"])] if fields.get("outputFile") else []
        first = self._first_step(path, fields, body, values)
        critical = [
            dataclasses.replace(i, kind="critical")
            for i in sections(body, relative, first_line)
            if i.kind == "act"
        ]
        aliases: dict[str, str] = {}
        if first is not None:
            steps = read_chain(self.files, first, values, outputs)
        else:
            parsed = read_instructions(body, relative, first_line - 1)
            steps = parsed.steps or [_whole(fields, body, relative, first_line)]
            critical, aliases = parsed.critical, parsed.aliases
            if parsed.steps:
                critical = [*_preamble(body, relative, first_line), *critical]
        workflow = Workflow(
            name=name,
            description=str(fields.get("description") or ""),
            format="workflow.md",
            module=module,
            entry=self.files.source(path),
            steps=tuple(steps),
            variables=fields,
            outputs=tuple(outputs),
            critical=tuple(critical),
            root=self.files.relative(path.parent),
            aliases=aliases,
        )
        return workflow, values

    def _first_step(
        self, path: Path, fields: dict[str, Any], body: str, values: dict[str, Any]
    ) -> Path | None:
        local = {**values, **{k: v for k, v in fields.items() if isinstance(v, str)}}
        references = [v for v in fields.values() if isinstance(v, str) and v.endswith(".md")]
        references += step_references(expand(body, local))
        for reference in references:
            text = expand(reference, local)
            if "{" in text:
                continue
            try:
                target = self.files.locate(text, base=path.parent)
            except PathRefused as refused:
                self.files.error(path, 1, str(refused))
                continue
            if target.name.startswith("step") and target.is_file():
                return target
        return None

    def task(self, path: Path, module: str | None) -> Loaded | None:
        text = self.files.read_text(path)
        if text is None:
            return None
        relative = self.files.relative(path)
        fields, body, first_line = self.files.front_matter(path, text)
        parsed = read_instructions(body, relative, first_line - 1)
        steps = parsed.steps or [_whole(fields, body, relative, first_line)]
        name = str(fields.get("name") or path.stem)
        values = self.values(path, module, path.parent, {})
        workflow = Workflow(
            name=name,
            description=str(fields.get("description") or ""),
            format="task",
            module=module,
            entry=self.files.source(path),
            steps=tuple(steps),
            variables=fields,
            critical=tuple(parsed.critical),
            root=self.files.relative(path.parent),
            aliases=parsed.aliases,
        )
        return workflow, values

    def skill(self, path: Path, module: str | None) -> Loaded | None:
        text = self.files.read_text(path)
        if text is None:
            return None
        folder = path.parent
        fields, body, first_line = self.files.front_matter(path, text)
        name = str(fields.get("name") or folder.name)
        if not fields.get("name") or not fields.get("description"):
            self.files.warn(path, 1, "SKILL.md front matter should have `name` and `description`")
        customize = (
            self.files.read_toml(folder / "customize.toml")
            if (folder / "customize.toml").is_file()
            else {}
        )
        workflow_table = agent_readers.merge_customization(
            (customize or {}).get("workflow") or {},
            *[(o.get("workflow") or {}) for o in self.overrides(folder.name)],
        )
        declared = {f"workflow.{k}": v for k, v in workflow_table.items()}
        values = self.values(path, module, folder, declared)
        relative = self.files.relative(path)
        outputs: list[str] = []
        first = self._first_step(path, fields, body, values)
        own = sections(body, relative, first_line)
        aliases: dict[str, str] = {}
        if first is not None:
            steps = read_chain(self.files, first, values, outputs)
            critical = [dataclasses.replace(i, kind="critical") for i in own if i.kind == "act"]
        elif (delegated := self._delegated(path, body, module)) is not None:
            workflow, inner = delegated
            return dataclasses.replace(
                workflow,
                name=name,
                description=str(fields.get("description") or workflow.description),
                format="skill",
                entry=self.files.source(path),
                variables={**workflow.variables, **fields, **declared},
            ), {**inner, **values}
        else:
            parsed = read_instructions(body, relative, first_line - 1)  # 6.5: XML in SKILL.md
            steps = parsed.steps or [
                _whole(fields, body, relative, first_line, step_id="main", prose=True)
            ]
            critical, aliases = [], {}
            if parsed.steps:
                critical = [*_preamble(body, relative, first_line), *parsed.critical]
                aliases = parsed.aliases
        workflow = Workflow(
            name=name,
            description=str(fields.get("description") or ""),
            format="skill",
            module=module,
            entry=self.files.source(path),
            steps=tuple(steps),
            variables={**fields, **declared},
            outputs=tuple(outputs),
            critical=tuple(critical),
            root=self.files.relative(folder),
            aliases=aliases,
        )
        return workflow, values

    def _delegated(self, path: Path, body: str, module: str | None) -> Loaded | None:
        """The workflow a 6.2-6.4 skill hands over to ("Follow the instructions in
        ./workflow.md"), read with its steps, and its variables."""
        found = _DELEGATES.search(body)
        if found is None:
            return None
        try:
            target = self.files.locate(found.group(1), base=path.parent)
        except PathRefused as refused:
            self.files.error(path, 1, str(refused))
            return None
        if not target.is_file() or target == path:
            self.files.error(path, 1, f"hands over to {found.group(1)!r}, which is not installed")
            return None
        read = self.workflow_yaml if target.suffix in (".yaml", ".yml") else self.workflow_md
        return read(target, module)


def _preamble(body: str, relative: str, first_line: int) -> list[Instruction]:
    """The prose before a file's XML steps (its goal, role, paths): rules for every step."""
    start = _XML_FLOW.search(body)
    before = body[: start.start()] if start else ""
    found = sections(before, relative, first_line)
    return [dataclasses.replace(i, kind="critical") for i in found if i.kind == "act"]


def _whole(
    fields: dict[str, Any],
    body: str,
    relative: str,
    first_line: int,
    *,
    step_id: str = "1",
    prose: bool = False,
) -> Step:
    """A file without step structure as one step of its markdown sections."""
    return Step(
        step_id,
        str(fields.get("description") or ""),
        tuple(sections(body, relative, first_line)),
        Source(relative, first_line),
        attrs={"prose": "true"} if prose else {},
    )
