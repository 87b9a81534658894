"""The planning chain as a repository's BMAD install defines it: `/ao start plan`.

An install's help catalogue (`_config/bmad-help.csv`, BMAD 6.0.1+) lists each workflow with
its phase, what precedes it and whether it is required. The chain is every required workflow
of the phases before implementation, plus the product brief where the install has one, up to
and including sprint planning, ordered by phase, then by what precedes what, then as the
catalogue lists them. Installs without a catalogue (the 6.0 alphas) get BMAD's own order by
name: product brief, PRD, architecture, epics and stories, sprint planning.

Pure: it reads the loaded project and the catalogue's text, and decides nothing else.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re

from bot.engine.loader import Project
from bot.engine.model import Workflow

HELP_CATALOGUE = "bmad-help.csv"
#: The workflow that ends planning: its output (sprint-status.yaml) starts the sprint.
LAST = re.compile(r"sprint-planning$")
#: Optional in every install, yet the chain starts with it where present.
BRIEF = re.compile(r"(?:^|-)product-brief$")
#: BMAD's planning order, for installs without a catalogue (name patterns, in order).
FALLBACK = (
    BRIEF,
    re.compile(r"(?:^|-)(?:create-)?prd$"),
    re.compile(r"(?:^|-)(?:create-)?architecture$"),
    re.compile(r"epics-and-stories$"),
    LAST,
)
#: The phases BMAD 6.0 files those workflows under.
_FALLBACK_PHASES = (
    "1-analysis",
    "2-planning",
    "3-solutioning",
    "3-solutioning",
    "4-implementation",
)
#: Phase names across BMAD generations, ranked ("1-analysis" … "4-implementation"; "plan",
#: "ship" in 6.3+). Anything else ("anytime") is not part of the chain.
_RANKS = (("analysis", 1), ("plan", 2), ("solution", 3), ("implement", 4), ("ship", 4))


class NoChain(Exception):
    """The install has no planning chain to run; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class Link:
    workflow: str  # the name `orchestrator workflows list` shows
    phase: str  # as the install names it ("2-planning", "plan", …; "" without a catalogue)
    required: bool


def phase_rank(phase: str) -> int | None:
    lowered = phase.lower()
    return next((rank for word, rank in _RANKS if word in lowered), None)


def planning_chain(project: Project, catalogue: str | None) -> list[Link]:
    """The chain of workflows `/ao start plan` runs, in order; NoChain when there is none."""
    chain = _from_catalogue(project, catalogue) if catalogue else []
    if not chain:
        chain = _by_name(project)
    if not chain or not LAST.search(chain[-1].workflow):
        raise NoChain(
            "this install has no planning chain ending in sprint planning: "
            + (", ".join(link.workflow for link in chain) or "none of its workflows plan")
        )
    return chain


def read_catalogue(project: Project) -> str | None:
    """The install's help catalogue, if it ships one."""
    folder = project.installation.manifest_folder
    path = folder / HELP_CATALOGUE if folder is not None else None
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")


@dataclasses.dataclass
class _Row:
    index: int
    workflow: Workflow
    phase: str
    rank: int
    required: bool
    after: set[str]  # names of the workflows it is preceded by


def _from_catalogue(project: Project, catalogue: str) -> list[Link]:
    rows: list[_Row] = []
    for index, row in enumerate(csv.DictReader(io.StringIO(catalogue))):
        phase = (row.get("phase") or "").strip()
        rank = phase_rank(phase)
        workflow = _workflow_of(project, row)
        if rank is None or workflow is None or any(r.workflow is workflow for r in rows):
            continue
        required = (row.get("required") or "").strip().lower() == "true"
        after = {
            w.name
            for name in re.split(r"[;|]", row.get("preceded-by") or "")
            if name.strip() and (w := _named(project, name.strip())) is not None
        }
        rows.append(_Row(index, workflow, phase, rank, required, after))
    last = next((r for r in rows if LAST.search(r.workflow.name)), None)
    if last is None:
        return []
    before_last = _ancestors(last, rows)
    wanted = [
        r
        for r in rows
        if (r.required or BRIEF.search(r.workflow.name))
        and (r.rank < last.rank or (r.rank == last.rank and r.index <= last.index)
             or r.workflow.name in before_last)
    ]  # fmt: skip
    # sprint planning ends planning, whatever else its row says
    ordered = [*_ordered([r for r in wanted if r is not last]), last]
    return [Link(r.workflow.name, r.phase, r.required) for r in ordered]


def _ancestors(last: _Row, rows: list[_Row]) -> set[str]:
    """What sprint planning is preceded by, however far back."""
    by_name = {r.workflow.name: r for r in rows}
    seen: set[str] = set()
    todo = list(last.after)
    while todo:
        name = todo.pop()
        if name not in seen and name in by_name:
            seen.add(name)
            todo.extend(by_name[name].after)
    return seen


def _ordered(rows: list[_Row]) -> list[_Row]:
    """By phase; within one, what precedes first, else the catalogue's order (Kahn's
    algorithm taking the earliest row that is free; in a cycle, the earliest row)."""
    done: list[_Row] = []
    left = sorted(rows, key=lambda r: (r.rank, r.index))
    names = {r.workflow.name for r in rows}
    while left:
        placed = {r.workflow.name for r in done}
        lowest = left[0].rank
        free = [r for r in left if r.rank == lowest and (r.after & names) <= placed]
        pick = free[0] if free else left[0]
        done.append(pick)
        left.remove(pick)
    return done


def _workflow_of(project: Project, row: dict[str, str]) -> Workflow | None:
    """The loaded workflow a catalogue row names: by skill (6.3+), command, or file."""
    for key in ("skill", "command"):
        value = (row.get(key) or "").strip()
        if value and value != "_meta" and (found := _named(project, value)) is not None:
            return found
    path = (row.get("workflow-file") or "").strip().replace("\\", "/")
    if path:
        return next((w for w in project.workflows if w.entry.path.endswith(path)), None)
    return None


def _named(project: Project, name: str) -> Workflow | None:
    """A workflow by its name, or by the command BMAD installs for it (`bmad-bmm-create-prd`
    names `create-prd`)."""
    found = project.workflow(name)
    if found is not None:
        return found
    bare = re.sub(r"^bmad-(?:[a-z]+-)?", "", name)
    candidates = [w for w in project.workflows if w.name in (bare, name.removeprefix("bmad-"))]
    return candidates[0] if len(candidates) == 1 else None


def _by_name(project: Project) -> list[Link]:
    chain = []
    for pattern, phase in zip(FALLBACK, _FALLBACK_PHASES, strict=True):
        found = sorted(w.name for w in project.workflows if pattern.search(w.name))
        if found:
            chain.append(Link(found[0], phase, pattern is not BRIEF))
    return chain
