"""Load a repository's BMAD install: every workflow, task and skill into the common model.

The entry points are what the installer's manifests list (or, without manifests, every
`workflow.yaml`, `workflow*.md` and `SKILL.md` in the module folders and skill folders). Each
is read by the reader for its generation; nothing in a repository can crash the loader, and
what it cannot use is reported with file and line.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path
from typing import Any

from bot.engine import agents as agent_readers
from bot.engine.entries import Entry, entries, manifest_file
from bot.engine.files import PathRefused, RepoFiles
from bot.engine.installation import Installation, discover
from bot.engine.model import Agent, Diagnostic, Instruction, Source, Step, Workflow
from bot.engine.prose import read_chain, sections, step_references
from bot.engine.roster import roster
from bot.engine.tags import read_instructions
from bot.engine.validate import validate
from bot.engine.variables import MAX_VALUE_CHARS, expand, resolve, system_values

#: "Follow the instructions in ./workflow.md": a 6.2-6.4 skill that is its workflow file.
_DELEGATES = re.compile(
    r"\bfollow the instructions in\s+[`'\"]?((?:\./)?[\w./-]+\.(?:md|ya?ml))", re.IGNORECASE
)
#: A workflow as read, with its own resolved variables.
Loaded = tuple[Workflow, dict[str, Any]]


@dataclasses.dataclass
class Project:
    """A repository's BMAD install as the engine sees it."""

    repository: Path
    installation: Installation
    workflows: list[Workflow]
    agents: list[Agent]
    diagnostics: list[Diagnostic]
    variables: dict[str, dict[str, Any]]  # per workflow name: its resolved variables

    def workflow(self, name: str) -> Workflow | None:
        """The workflow a name means: its name, or `MODULE:NAME`; None when there is none or
        a bare name is ambiguous (see `choices`)."""
        found = self.matches(name)
        return found[0] if len(found) == 1 else None

    def matches(self, name: str) -> list[Workflow]:
        wanted = name.strip().lower()
        exact = [w for w in self.workflows if w.name.lower() == wanted]
        if exact:
            return exact[:1]
        module, _, bare = wanted.rpartition(":")
        return [
            w
            for w in self.workflows
            if w.name.lower().rpartition(":")[2] == bare
            and (not module or (w.module or "").lower() == module)
        ]

    def choices(self, name: str) -> list[str]:
        """The qualified names a bare ambiguous name could mean (empty when it is not)."""
        found = self.matches(name)
        return sorted(w.name for w in found) if len(found) > 1 else []

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def load(repository: Path, *, today: datetime.date | None = None) -> Project:
    files = RepoFiles(repository)
    installation = discover(files)
    loader = _Loader(files, installation, today)
    return loader.run()


class _Loader:
    def __init__(
        self, files: RepoFiles, installation: Installation, today: datetime.date | None
    ) -> None:
        self.files = files
        self.installation = installation
        self.base: dict[str, Any] = {
            **system_values(today),
            "project-root": str(files.root),
            "project_root": str(files.root),
            "project_name": files.root.name,
            "user_name": "Agent Orchestrator",
            "communication_language": "English",
            "document_output_language": "English",
            "output_folder": "_bmad-output",
        }
        self.base.update({k: v for k, v in installation.config.items() if v not in (None, "")})
        self.loaded: list[Loaded] = []
        self._entry_values: dict[Path, dict[str, Any]] = {}
        self.agents: list[Agent] = []

    def run(self) -> Project:
        variables: dict[str, dict[str, Any]] = {}
        workflows: list[Workflow] = []
        if self.installation.root is not None or self.installation.skill_folders:
            self.agents = roster(self.files, self.installation, self._overrides)
            found = entries(self.files, self.installation)
            from_manifest = 0
            for entry in found.found:
                before = len(self.loaded)
                try:
                    self._load_entry(entry)
                except Exception as exc:  # noqa: BLE001 - no repository may crash the loader
                    self.files.error(
                        entry.path, 1, f"could not be read: {type(exc).__name__}: {exc}"
                    )
                from_manifest += entry.listed and len(self.loaded) > before
            if found.listed and not from_manifest:
                self.files.error(
                    manifest_file(self.files, self.installation, found.kinds[0]),
                    1,
                    f"the manifests list {found.listed} workflows, tasks or skills and none "
                    "of them loads: is the install moved or incomplete? Reinstall with "
                    "`npx bmad-method install`",
                )
            for workflow, values in _qualified(self.loaded):
                workflows.append(workflow)
                variables[workflow.name] = values
                for problem in validate(workflow, values, self.files):
                    self.files.report(problem)
        return Project(
            self.files.root,
            self.installation,
            workflows,
            self.agents,
            self.files.diagnostics,
            variables,
        )

    def _overrides(self, skill: str) -> list[dict[str, Any]]:
        root = self.installation.root
        if root is None:
            return []
        layers = [root / "custom" / f"{skill}.toml", root / "custom" / f"{skill}.user.toml"]
        return [data for p in layers if p.is_file() and (data := self.files.read_toml(p))]

    # Workflows ----------------------------------------------------------------------------

    def _load_entry(self, entry: Entry) -> None:
        path, module = entry.path, entry.module
        if path.name == "SKILL.md":
            workflow = self._skill(path, module)
        elif path.suffix in (".yaml", ".yml"):
            workflow = self._workflow_yaml(path, module)
        elif entry.kind == "task" or path.suffix == ".xml":
            workflow = self._task(path, module)
        else:
            workflow = self._workflow_md(path, module)
        if workflow is None:
            return
        aliases = {workflow.name, self._relative_to_install(path), path.parent.name}
        workflow = dataclasses.replace(
            workflow,
            agent=agent_readers.owner(
                self.agents, workflow.name, self.files.relative(path), aliases
            ),
            copies=tuple(entry.copies),
        )
        self.loaded.append((workflow, self._entry_values.get(path, {})))

    def _relative_to_install(self, path: Path) -> str:
        root = self.installation.root
        if root is not None and self.files.resolve(path).is_relative_to(self.files.resolve(root)):
            return self.files.resolve(path).relative_to(self.files.resolve(root)).as_posix()
        return self.files.relative(path)

    def _values(
        self, entry: Path, module: str | None, folder: Path, declared: dict[str, Any]
    ) -> dict[str, Any]:
        """The variables of the workflow `entry` declares, resolved; kept for that entry."""
        config = {
            **self.installation.config,
            **(self.installation.module_config.get(module or "", {})),
        }
        base = {
            **self.base,
            "installed_path": str(folder),
            "skill-root": str(folder),
            **{k: v for k, v in config.items() if isinstance(v, (str, int, float, bool))},
        }
        oversized: set[str] = set()
        values = resolve(declared, config, base, oversized=oversized)
        for key in sorted(oversized):
            self.files.error(
                entry,
                self.files.line_of(entry, key),
                f"variable {key!r} would expand to more than {MAX_VALUE_CHARS:,} characters; "
                "it is left as written",
            )
        for key, value in list(values.items()):
            if isinstance(value, str):
                values[key] = self._relocate(value)
        self._entry_values[entry] = values
        return values

    def _relocate(self, value: str) -> str:
        """`{project-root}/_bmad/…` in a workflow of an install that lives elsewhere
        (`.bmad/`, `bmad/`, the repository root) means the same file there."""
        root, repository = self.installation.root, str(self.files.root)
        if root is None or not value.startswith(repository + "/_bmad/"):
            return value
        if self.files.resolve(root) == self.files.resolve(self.files.root / "_bmad"):
            return value
        return str(root) + value[len(repository) + len("/_bmad") :]

    def _workflow_yaml(self, path: Path, module: str | None) -> Workflow | None:
        data = self.files.read_yaml(path)
        if not isinstance(data, dict):
            if data is not None:
                self.files.error(path, 1, "workflow.yaml is not a mapping")
            return None
        name = str(data.get("name") or path.parent.name)
        values = self._values(path, module, path.parent, data)
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
        return Workflow(
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

    def _workflow_md(self, path: Path, module: str | None) -> Workflow | None:
        text = self.files.read_text(path)
        if text is None:
            return None
        fields, body, first_line = self.files.front_matter(path, text)
        name = str(fields.get("name") or path.parent.name)
        values = self._values(path, module, path.parent, fields)
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
        return Workflow(
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

    def _task(self, path: Path, module: str | None) -> Workflow | None:
        text = self.files.read_text(path)
        if text is None:
            return None
        relative = self.files.relative(path)
        fields, body, first_line = self.files.front_matter(path, text)
        parsed = read_instructions(body, relative, first_line - 1)
        steps = parsed.steps or [_whole(fields, body, relative, first_line)]
        name = str(fields.get("name") or path.stem)
        self._values(path, module, path.parent, {})
        return Workflow(
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

    def _skill(self, path: Path, module: str | None) -> Workflow | None:
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
            *[(o.get("workflow") or {}) for o in self._overrides(folder.name)],
        )
        declared = {f"workflow.{k}": v for k, v in workflow_table.items()}
        values = self._values(path, module, folder, declared)
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
            self._entry_values[path] = {**inner, **values}
            return dataclasses.replace(
                workflow,
                name=name,
                description=str(fields.get("description") or workflow.description),
                format="skill",
                entry=self.files.source(path),
                variables={**workflow.variables, **fields, **declared},
            )
        else:
            parsed = read_instructions(body, relative, first_line - 1)  # 6.5: XML in SKILL.md
            steps = parsed.steps or [
                _whole(fields, body, relative, first_line, step_id="main", prose=True)
            ]
            critical, aliases = (parsed.critical, parsed.aliases) if parsed.steps else ([], {})
        return Workflow(
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
        read = self._workflow_yaml if target.suffix in (".yaml", ".yml") else self._workflow_md
        workflow = read(target, module)
        return None if workflow is None else (workflow, self._entry_values.pop(target, {}))


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


def _qualified(loaded: list[Loaded]) -> list[Loaded]:
    """Workflows whose name two modules share (`bmm` and `gds` both ship `create-story`) are
    known by `MODULE:NAME`, each with its own variables."""
    modules: dict[str, set[str | None]] = {}
    for workflow, _values in loaded:
        modules.setdefault(workflow.name.lower(), set()).add(workflow.module)
    return [
        (
            dataclasses.replace(workflow, name=f"{workflow.module or 'skills'}:{workflow.name}")
            if len(modules[workflow.name.lower()]) > 1
            else workflow,
            values,
        )
        for workflow, values in loaded
    ]
