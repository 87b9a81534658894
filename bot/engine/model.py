"""The one model every generation of BMAD is read into, and what the loader reports.

A workflow is steps; a step is instructions. Whether it came from `workflow.yaml` with XML-tag
instructions, a `workflow.md` with step files, or a `SKILL.md`, the executor sees the same
shapes, each carrying the file and line it came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, get_args

from typing_extensions import override

#: What an instruction asks of the engine; the executor handles every one (mypy checks it).
InstructionKind = Literal[
    "act", "ask", "check", "goto", "template-output", "invoke", "output", "halt", "menu",
    "critical",
]  # fmt: skip
KINDS: tuple[InstructionKind, ...] = get_args(InstructionKind)
# act: an agent's work; ask: a question for the user (the autonomy policy answers or
# escalates); check: a condition with instructions under it; goto: a jump to another step;
# template-output: the agent's section into an output file; invoke: another workflow, task
# or protocol; output: something shown to the user; halt: stop and wait; menu: choices at the
# end of a step file (A/P/C); critical: a rule for the whole workflow or step.


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    path: str  # relative to the repository, POSIX separators
    line: int = 1

    @override
    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclasses.dataclass(frozen=True, slots=True)
class Instruction:
    kind: InstructionKind
    text: str
    source: Source
    condition: str | None = None  # `if="…"` on action, check, ask, goto, output
    target: str | None = None  # goto: step id; invoke: path; template-output: file
    children: tuple[Instruction, ...] = ()  # what a `check` guards
    tag: str | None = None  # the XML tag it was read from, when it was one

    def walk(self) -> list[Instruction]:
        return [self, *(i for child in self.children for i in child.walk())]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    id: str  # "1", "0.5", "1a", or a step file's stem
    goal: str
    instructions: tuple[Instruction, ...]
    source: Source
    next: tuple[str, ...] = ()  # step ids this step hands over to (step files, branches)
    attrs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def all_instructions(self) -> list[Instruction]:
        return [i for top in self.instructions for i in top.walk()]


@dataclasses.dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    description: str
    format: str  # "workflow.yaml", "workflow.md", "skill", "task"
    module: str | None
    entry: Source
    steps: tuple[Step, ...]
    variables: Mapping[str, Any]  # as declared, before resolution
    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    outputs: tuple[str, ...] = ()  # files it writes (declared or from template-output)
    template: str | None = None
    agent: str | None = None  # the owning agent's id
    critical: tuple[Instruction, ...] = ()  # workflow-wide rules
    root: str = ""  # the workflow's folder (installed_path / skill-root), repository-relative
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)  # substep -> its step
    copies: tuple[str, ...] = ()  # other folders the same skill is installed in

    def step(self, step_id: str) -> Step | None:
        wanted = self.aliases.get(step_id, step_id)
        return next((s for s in self.steps if s.id == wanted), None)

    def goto_target(self, step_id: str) -> Step | None:
        """Where a goto lands. BMAD ships gotos to steps that were renumbered ("GOTO step 2a"
        when only step 2 exists): the step whose id the target starts with is meant."""
        exact = self.step(step_id)
        if exact is not None:
            return exact
        stem = step_id.rstrip("abcdefghijklmnopqrstuvwxyz")
        return self.step(stem) if stem and stem != step_id else None


@dataclasses.dataclass(frozen=True, slots=True)
class MenuItem:
    trigger: str
    description: str
    target: str | None  # a workflow or skill name or path


@dataclasses.dataclass(frozen=True, slots=True)
class Agent:
    id: str  # "pm", "bmad-agent-pm"
    name: str  # the persona: "John"
    title: str
    role: str
    identity: str
    communication_style: str
    principles: tuple[str, ...]
    menu: tuple[MenuItem, ...]
    module: str | None
    source: Source


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    source: Source
    message: str

    @override
    def __str__(self) -> str:
        return f"{self.source}: {self.severity}: {self.message}"
