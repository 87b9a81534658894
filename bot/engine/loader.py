"""Load a repository's BMAD install: every workflow, task and skill into the common model.

The entry points are what the installer's manifests list (or, without manifests, every
`workflow.yaml`, `workflow*.md` and `SKILL.md` in the module folders and skill folders). Each
is read by the reader for its generation; nothing in a repository can crash the loader, and
what it cannot use is reported with file and line.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

from bot.engine import agents as agent_readers
from bot.engine.files import PathRefused, RepoFiles
from bot.engine.installation import Installation, discover
from bot.engine.model import Agent, Diagnostic, Instruction, Source, Step, Workflow
from bot.engine.prose import read_chain, sections, step_references
from bot.engine.tags import read_instructions
from bot.engine.validate import validate
from bot.engine.variables import expand, resolve, system_values

_INSTALL_PREFIXES = ("_bmad/", ".bmad/", "bmad/")


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
        wanted = name.lower()
        return next((w for w in self.workflows if w.name.lower() == wanted), None)

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
        self.workflows: list[Workflow] = []
        self.variables: dict[str, dict[str, Any]] = {}
        self.agents: list[Agent] = []

    def run(self) -> Project:
        if self.installation.root is not None or self.installation.skill_folders:
            self.agents = self._agents()
            for path, module, kind in self._entries():
                try:
                    self._load_entry(path, module, kind)
                except Exception as exc:  # noqa: BLE001 - no repository may crash the loader
                    self.files.error(path, 1, f"could not be read: {type(exc).__name__}: {exc}")
            for workflow in self.workflows:
                for problem in validate(
                    workflow, self.variables.get(workflow.name, {}), self.files
                ):
                    self.files.report(problem)
        return Project(
            self.files.root,
            self.installation,
            self.workflows,
            self.agents,
            self.files.diagnostics,
            self.variables,
        )

    # Entry points ------------------------------------------------------------------------

    def _entries(self) -> list[tuple[Path, str | None, str]]:
        found: list[tuple[Path, str | None, str]] = []
        seen: set[Path] = set()

        def add(path: Path, module: str | None, kind: str) -> None:
            resolved = self.files.resolve(path)
            if resolved not in seen and path.is_file():
                seen.add(resolved)
                found.append((path, module, kind))

        manifests = self.installation.manifests
        for row in manifests.get("workflow", []):
            if path := self._manifest_path(row):
                add(path, row.get("module") or None, "workflow")
            else:
                self._missing(row, "workflow")
        for row in manifests.get("task", []):
            if path := self._manifest_path(row):
                add(path, row.get("module") or None, "task")
            else:
                self._missing(row, "task")
        for row in manifests.get("skill", []):
            path = self._manifest_path(row) or self._skill_by_name(
                row.get("canonicalId") or row.get("name") or ""
            )
            if path:
                add(path, row.get("module") or None, "skill")
            else:
                self._missing(row, "skill")
        if not any(manifests.get(k) for k in ("workflow", "skill")) and self.installation.root:
            for module in self.installation.modules:
                for path in sorted((self.installation.root / module).rglob("*")):
                    if _is_workflow_file(path):
                        add(path, module, "workflow")
        for folder in self.installation.skill_folders:
            for skill in sorted(folder.glob("*/SKILL.md")):
                if not skill.parent.name.startswith("bmad-agent-"):
                    add(skill, None, "skill")
        return found

    def _manifest_path(self, row: dict[str, str]) -> Path | None:
        raw = (row.get("path") or "").strip().replace("\\", "/")
        if not raw:
            return None
        candidates = [raw]
        root = self.installation.root
        if root is not None and raw.startswith(_INSTALL_PREFIXES):
            candidates.append(f"{self.files.relative(root)}/{raw.split('/', 1)[1]}")
        for candidate in candidates:
            try:
                path = self.files.locate(candidate)
            except PathRefused:
                continue
            if path.is_file():
                return path
        return None

    def _skill_by_name(self, name: str) -> Path | None:
        for folder in self.installation.skill_folders:
            if name and (folder / name / "SKILL.md").is_file():
                return folder / name / "SKILL.md"
        return None

    def _missing(self, row: dict[str, str], kind: str) -> None:
        folder = self.installation.manifest_folder or self.files.root
        self.files.warn(
            folder / f"{kind}-manifest.csv",
            1,
            f"{kind} {row.get('name')!r} is listed but {row.get('path')!r} is not installed",
        )

    # Agents -------------------------------------------------------------------------------

    def _agents(self) -> list[Agent]:
        found: list[Agent] = []
        root = self.installation.root
        if root is not None:
            for module in ["core", *self.installation.modules]:
                folder = root / module / "agents"
                if not folder.is_dir():
                    continue
                for path in sorted(folder.rglob("*")):
                    agent = None
                    if path.name.endswith(".agent.yaml"):
                        agent = agent_readers.read_agent_yaml(self.files, path, module)
                    elif path.suffix == ".md" and _looks_like_agent(self.files.read_text(path)):
                        agent = agent_readers.read_compiled(self.files, path, module)
                    if agent is not None and all(a.id != agent.id for a in found):
                        found.append(agent)
            for skill in sorted(root.rglob("bmad-agent-*/SKILL.md")):
                self._add_agent_skill(found, skill.parent)
        for folder in self.installation.skill_folders:
            for skill in sorted(folder.glob("bmad-agent-*/SKILL.md")):
                self._add_agent_skill(found, skill.parent)
        return found

    def _add_agent_skill(self, found: list[Agent], folder: Path) -> None:
        agent = agent_readers.read_agent_skill(
            self.files, folder, self._overrides(folder.name), None
        )
        if agent is not None and all(a.id != agent.id for a in found):
            found.append(agent)

    def _overrides(self, skill: str) -> list[dict[str, Any]]:
        root = self.installation.root
        if root is None:
            return []
        layers = [root / "custom" / f"{skill}.toml", root / "custom" / f"{skill}.user.toml"]
        return [data for p in layers if p.is_file() and (data := self.files.read_toml(p))]

    # Workflows ----------------------------------------------------------------------------

    def _load_entry(self, path: Path, module: str | None, kind: str) -> None:
        if path.name == "SKILL.md":
            workflow = self._skill(path, module)
        elif path.suffix in (".yaml", ".yml"):
            workflow = self._workflow_yaml(path, module)
        elif kind == "task" or path.suffix == ".xml":
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
        )
        self.workflows.append(workflow)

    def _relative_to_install(self, path: Path) -> str:
        root = self.installation.root
        if root is not None and self.files.resolve(path).is_relative_to(self.files.resolve(root)):
            return self.files.resolve(path).relative_to(self.files.resolve(root)).as_posix()
        return self.files.relative(path)

    def _values(
        self, name: str, module: str | None, folder: Path, declared: dict[str, Any]
    ) -> dict[str, Any]:
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
        values = resolve(declared, config, base)
        for key, value in list(values.items()):
            if isinstance(value, str):
                values[key] = self._relocate(value)
        self.variables[name] = values
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
        values = self._values(name, module, path.parent, data)
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
        values = self._values(name, module, path.parent, fields)
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
        self._values(name, module, path.parent, {})
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
        values = self._values(name, module, folder, declared)
        relative = self.files.relative(path)
        outputs: list[str] = []
        first = self._first_step(path, fields, body, values)
        own = sections(body, relative, first_line)
        if first is not None:
            steps = read_chain(self.files, first, values, outputs)
            critical = [dataclasses.replace(i, kind="critical") for i in own if i.kind == "act"]
        else:
            steps = [_whole(fields, body, relative, first_line, step_id="main", prose=True)]
            critical = []
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
        )


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


def _is_workflow_file(path: Path) -> bool:
    if not path.is_file() or any(p.startswith("steps") for p in path.parent.parts[-1:]):
        return False
    return path.name in ("workflow.yaml", "SKILL.md") or (
        path.name.startswith("workflow") and path.suffix == ".md"
    )


def _looks_like_agent(text: str | None) -> bool:
    """An agent file: an `<agent>` block, or a YAML block with an `agent:` mapping."""
    return text is not None and ("<agent" in text or "```yaml\nagent:" in text)
