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

from bot.engine import agent_files as agent_readers
from bot.engine.entries import Entry, entries, manifest_file
from bot.engine.files import RepoFiles
from bot.engine.installation import Installation, discover
from bot.engine.model import Agent, Diagnostic, Workflow
from bot.engine.readers import Loaded, Readers
from bot.engine.roster import roster
from bot.engine.validate import validate
from bot.engine.variables import MAX_VALUE_CHARS, resolve, system_values


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
        self.readers = Readers(files, self.base, self._values, self._overrides)
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
                if entry.listed and len(self.loaded) > before:
                    from_manifest += 1
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
            loaded = self.readers.skill(path, module)
        elif path.suffix in (".yaml", ".yml"):
            loaded = self.readers.workflow_yaml(path, module)
        elif entry.kind == "task" or path.suffix == ".xml":
            loaded = self.readers.task(path, module)
        else:
            loaded = self.readers.workflow_md(path, module)
        if loaded is None:
            return
        workflow, values = loaded
        aliases = {workflow.name, self._relative_to_install(path), path.parent.name}
        workflow = dataclasses.replace(
            workflow,
            agent=agent_readers.owner(
                self.agents, workflow.name, self.files.relative(path), aliases
            ),
            copies=tuple(entry.copies),
        )
        self.loaded.append((workflow, values))

    def _relative_to_install(self, path: Path) -> str:
        root = self.installation.root
        if root is not None and self.files.resolve(path).is_relative_to(self.files.resolve(root)):
            return self.files.resolve(path).relative_to(self.files.resolve(root)).as_posix()
        return self.files.relative(path)

    def _values(
        self, entry: Path, module: str | None, folder: Path, declared: dict[str, Any]
    ) -> dict[str, Any]:
        """The variables `entry` declares, resolved in its module's config and folder."""
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
