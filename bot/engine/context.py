"""A run's state and the agent's context: the values, this step's writes, the documents an
instruction is about, and the task built from them. The executor's other parts build on it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.engine.autonomy import AutonomyPolicy
from bot.engine.checkpoint import Checkpoint, CheckpointStore, digest
from bot.engine.confine import Confinement, confinement_for
from bot.engine.excerpts import excerpt
from bot.engine.files import PathRefused, RepoFiles
from bot.engine.loader import Project
from bot.engine.model import Step, Workflow
from bot.engine.tasks import Reply, Task, TaskKind, WorkflowAgent
from bot.engine.variables import alternatives, expand

#: How many files an instruction gets.
MAX_DOCUMENTS = 6
#: Events kept in a checkpoint (the newest); the run prints them all as they happen.
MAX_EVENTS = 100


class RunError(Exception):
    """The run cannot go on; the message says why and what to do."""


class RunContext:
    """What a run knows between its steps, and how it shows it to an agent."""

    checkpoint: Checkpoint  # set when the run starts or resumes

    def __init__(
        self,
        project: Project,
        agent: WorkflowAgent,
        store: CheckpointStore,
        *,
        policy: AutonomyPolicy | None = None,
        overrides: Mapping[str, str] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        confinement: Confinement | None = None,
    ) -> None:
        self.project = project
        self.files = RepoFiles(project.repository)
        # What agents may read and write; the run's own state is never among it.
        self.confinement = confinement or confinement_for(project, hidden=[store.folder])
        self.agent = agent
        self.store = store
        self.policy = policy or AutonomyPolicy()
        self.overrides = dict(overrides or {})
        self.on_event = on_event or (lambda _kind, _data: None)
        self.writes: dict[str, str] = {}  # this step's writes, path -> content
        self.steps_run = 0
        self.values: dict[str, Any] = {}
        self._set_by_run: set[str] = set()  # variables the agents gave, kept in checkpoints
        self._inputs: dict[str, str] = {}  # documents `discover_inputs` found
        self._seen: dict[str, str] = {}  # files this step's agent has been shown so far

    @property
    def _learned(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self._set_by_run}

    def _take(self, files: Mapping[str, str], variables: Mapping[str, str]) -> None:
        for name, value in variables.items():
            self.values[name] = value
            self._set_by_run.add(name)
        for reference, content in files.items():
            try:
                relative = self.confinement.check_write(self._expand(reference))
            except PathRefused as refused:
                self._event(self.checkpoint, "write-refused", path=reference, reason=str(refused))
                continue
            self.writes[relative] = content

    def _write(self, path: Path, content: str) -> None:
        self.writes[self.files.relative(path)] = content

    def _readable(self, path: Path) -> bool:
        try:
            self.confinement.check_read(path)
        except PathRefused:
            return False
        return True

    def _read(self, path: Path) -> str | None:
        relative = self.files.relative(path)
        if relative in self.writes:
            return self.writes[relative]
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return None

    def _exists(self, reference: str) -> bool | None:
        if "{" in reference:
            return None
        for choice in alternatives(reference):
            try:
                path = self.files.locate(choice)
            except PathRefused:
                continue
            if self.files.relative(path) in self.writes or path.exists():
                return True
        return False

    def _expand(self, text: str) -> str:
        return expand(text, self.values, placeholders=True)

    def _relative(self, text: str) -> str:
        """Variables filled, as the repository-relative path agents see."""
        return self._expand(text).replace(f"{self.files.root}/", "")

    def _output_path(self, reference: str) -> Path:
        text = self._expand(reference)
        missing = re.findall(r"\{\{\s*([\w.-]+)\s*\}\}", text)
        if missing:  # a name the agent was to give, e.g. {{story_key}}.md
            raise RunError(
                f"the output {reference!r} needs {', '.join(missing)}, which no step has set; "
                f"give it with --set {missing[0]}=VALUE and --resume"
            )
        try:
            return self.files.root / self.confinement.check_write(text)
        except PathRefused as refused:
            raise RunError(f"output {reference!r}: {refused}") from refused

    def _default_output(self, workflow: Workflow) -> str | None:
        return workflow.outputs[0] if workflow.outputs else None

    def _template_text(self, workflow: Workflow, step: Step) -> str | None:
        """The template the output starts from: the workflow's, the step file's own
        (`prdTemplate: '../templates/…'`, relative to the step file), or a skill's."""
        step_folder = (self.files.root / step.source.path).parent
        candidates: list[tuple[str, Path]] = []
        if workflow.template:
            candidates.append((workflow.template, self.files.root / workflow.root))
        candidates += [
            (v, step_folder) for k, v in step.attrs.items() if k.lower().endswith("template")
        ]
        candidates += [
            (str(v), self.files.root / workflow.root)
            for k, v in self.values.items()
            if k.startswith("workflow.") and k.endswith("_template")
        ]
        for candidate, base in candidates:
            try:
                path = self.files.locate(self._expand(candidate), base=base)
            except PathRefused:
                continue
            if path.is_file() and path.suffix in (".md", ".yaml", ".yml", ".txt"):
                return self.files.read_text(path)
        return None

    @staticmethod
    def _template_section(template: str | None, section: str | None) -> str | None:
        if template is None or section is None:
            return template
        lines = template.split("\n")
        for index, line in enumerate(lines):
            if "{{" + section + "}}" in line.replace(" ", ""):
                start = max(0, index - 3)
                return "\n".join(lines[start : index + 2])
        return None

    def _task(
        self,
        kind: TaskKind,
        workflow: Workflow,
        step: Step,
        instruction: str,
        *,
        template: str | None = None,
        output_path: str | None = None,
        options: tuple[str, ...] = (),
    ) -> Task:
        rules = tuple(self._expand(i.text) for i in workflow.critical)[:20]
        root = f"{self.files.root}/"
        scalars = {
            k: str(v).replace(root, "")
            for k, v in self.values.items()
            if isinstance(v, (str, int, float)) and k not in ("project-root", "project_root")
        }
        step_values = {k[3:]: v for k, v in step.attrs.items() if k.startswith("fm.")}
        # Agents see repository paths relative to the repository, never the host's layout.
        expanded = self._expand(instruction).replace(f"{self.files.root}/", "")
        # An agent working through a step keeps what it has read in that step; a file it
        # is shown again is shown as it is now.
        self._seen.update(self._documents(expanded))
        documents = {path: self._read(self.files.root / path) or "" for path in self._seen}
        return Task(
            kind,
            workflow.name,
            step.id,
            step.goal,
            expanded,
            {**scalars, **step_values},
            rules,
            template,
            dict(self._inputs),
            options,
            output_path,
            workflow.agent,
            documents,
        )

    def _documents(self, text: str) -> dict[str, str]:
        """The repository files an instruction is about, as they are now (this step's writes
        included): those whose variable or path it names ("{{sprint_status}}", "sprint
        status file"), so the agent works from what is really there."""
        found: dict[str, str] = {}
        lowered = text.lower()
        for name, value in self.values.items():
            if len(found) >= MAX_DOCUMENTS or not isinstance(value, str) or "/" not in value:
                continue
            named = name.lower() in lowered or name.replace("_", " ").lower() in lowered
            if not (named or value in text) or "{" in value or "*" in value:
                continue
            for choice in alternatives(value):
                try:
                    path = self.files.root / self.confinement.check_read(choice)
                except PathRefused:
                    continue
                content = self._read(path) if path.suffix else None
                if content is not None:
                    found[self.files.relative(path)] = excerpt(content, [self.files.relative(path)])
                    break
        return found

    def _discover_inputs(self, workflow: Workflow) -> None:
        """BMAD's `discover_inputs` protocol, done by the engine: each input pattern's files
        (whole, else sharded) are loaded for the agent as `{name}_content`."""
        found: dict[str, str] = dict(self._inputs)
        for name, spec in (workflow.inputs or {}).items():
            if not isinstance(spec, dict):
                continue
            for key in ("whole", "sharded"):
                pattern = self._expand(str(spec.get(key) or ""))
                if not pattern or "{" in pattern:
                    continue
                root = str(self.files.root)
                relative = pattern[len(root) + 1 :] if pattern.startswith(root + "/") else pattern
                matches = sorted(
                    p for p in self.files.root.glob(relative) if p.is_file() and self._readable(p)
                )
                if matches:
                    text = "\n\n".join((self.files.read_text(p) or "") for p in matches)
                    found[name] = excerpt(text, [self.files.relative(p) for p in matches])
                    self.values[f"{name}_content"] = found[name]
                    break
        self._inputs = found
        self._event(self.checkpoint, "inputs", found=sorted(found))

    def _find_workflow(self, target: str) -> Workflow | None:
        text = target.strip().replace("\\", "/")
        for workflow in self.project.workflows:
            entry = str(self.files.root / workflow.entry.path)
            if text in (workflow.name, entry) or text.endswith("/" + workflow.entry.path):
                return workflow
            if text.endswith(workflow.root + "/workflow.yaml") and workflow.root:
                return workflow
        return None

    def _workflow(self, name: str) -> Workflow:
        workflow = self.project.workflow(name)
        if workflow is None:
            raise RunError(f"workflow {name!r} is no longer installed")
        return workflow

    def _hashes(self, workflow: Workflow) -> dict[str, str]:
        paths = {workflow.entry.path, *(s.source.path for s in workflow.steps)}
        return {p: d for p in sorted(paths) if (d := digest(self.files.root / p))}

    def _event(self, checkpoint: Checkpoint, kind: str, **data: Any) -> None:
        line = json.dumps({"event": kind, **data}, default=str)
        checkpoint.events.append(line)
        del checkpoint.events[:-MAX_EVENTS]  # the newest; a checkpoint must stay small
        self.on_event(kind, data)

    def _lacking(self, references: Sequence[str], reply: Reply) -> list[str]:
        """The files of `references` that neither the reply, this step nor the disk has;
        a path the agents may not write is not theirs to produce."""
        given = set()
        for reference in reply.files:
            try:
                given.add(self.confinement.check_write(self._expand(reference)))
            except PathRefused:
                continue
        missing = []
        for reference in references:
            try:
                relative = self.confinement.check_write(reference)
            except PathRefused:
                continue
            if relative in given or relative in self.writes:
                continue
            if not (self.files.root / relative).exists():
                missing.append(relative)
        return missing
