"""The entry points of an install: what its manifests list, else what its folders hold.

Manifest paths are written as the installer saw the project (`_bmad/bmm/…`, or
`ProjectName/bmm/…` for an install at the repository root, in a folder that may have been
renamed since); each is found where it now is. A skill installed for several editors
(`.claude/skills`, `.agents/skills`, …) is one entry that also lives in the other folders.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.engine.files import PathRefused, RepoFiles
from bot.engine.installation import Installation

_INSTALL_PREFIXES = ("_bmad/", ".bmad/", "bmad/")
MANIFEST_KINDS = ("workflow", "task", "skill")


@dataclasses.dataclass
class Entry:
    path: Path
    module: str | None
    kind: str  # "workflow", "task" or "skill"
    listed: bool  # named by a manifest
    copies: list[str] = dataclasses.field(default_factory=list)  # the same skill elsewhere


@dataclasses.dataclass
class Entries:
    found: list[Entry]
    listed: int  # manifest rows of the kinds the engine runs
    kinds: list[str]  # the kinds of manifest that list them


def entries(files: RepoFiles, installation: Installation) -> Entries:
    return _Finder(files, installation).find()


class _Finder:
    def __init__(self, files: RepoFiles, installation: Installation) -> None:
        self.files, self.installation = files, installation
        self.found: list[Entry] = []
        self.seen: set[Path] = set()
        self.skills: dict[str, Entry] = {}  # a skill's folder name -> its entry

    def add(self, path: Path, module: str | None, kind: str, listed: bool) -> None:
        resolved = self.files.resolve(path)
        if resolved in self.seen or not path.is_file():
            return
        self.seen.add(resolved)
        if kind == "skill" and path.name == "SKILL.md":
            first = self.skills.get(path.parent.name)
            if first is not None:
                first.copies.append(self.files.relative(path.parent.parent))
                return
        entry = Entry(path, module, kind, listed)
        if kind == "skill" and path.name == "SKILL.md":
            self.skills[path.parent.name] = entry
        self.found.append(entry)

    def find(self) -> Entries:
        manifests = self.installation.manifests
        listed = 0
        for kind in MANIFEST_KINDS:
            for row in manifests.get(kind, []):
                listed += 1
                path = self.manifest_path(row)
                if path is None and kind == "skill":
                    path = self.skill_by_name(row.get("canonicalId") or row.get("name") or "")
                if path is not None:
                    self.add(path, row.get("module") or None, kind, listed=True)
                else:
                    self.missing(row, kind)
        root = self.installation.root
        if not any(manifests.get(k) for k in ("workflow", "skill")) and root is not None:
            for module in self.installation.modules:
                for path in sorted((root / module).rglob("*")):
                    if is_workflow_file(path):
                        self.add(path, module, "workflow", listed=False)
        for folder in self.installation.skill_folders:
            for skill in sorted(folder.glob("*/SKILL.md")):
                if not skill.parent.name.startswith("bmad-agent-"):
                    self.add(skill, None, "skill", listed=False)
        kinds = [k for k in MANIFEST_KINDS if manifests.get(k)]
        return Entries(self.found, listed, kinds)

    def manifest_path(self, row: dict[str, str]) -> Path | None:
        raw = (row.get("path") or "").strip().replace("\\", "/")
        if not raw:
            return None
        candidates = [raw]
        root = self.installation.root
        first, _, rest = raw.partition("/")
        if root is not None and rest:
            install = self.files.relative(root)
            inside = rest if install == "." else f"{install}/{rest}"
            if raw.startswith(_INSTALL_PREFIXES):
                candidates.append(inside)
            elif not (self.files.root / first).is_dir():
                # `ProjectName/bmm/…`: the project's folder as the installer saw it
                candidates.append(inside)
        for candidate in candidates:
            try:
                path = self.files.locate(candidate)
            except PathRefused:
                continue
            if path.is_file():
                return path
        return None

    def skill_by_name(self, name: str) -> Path | None:
        for folder in self.installation.skill_folders:
            if name and (folder / name / "SKILL.md").is_file():
                return folder / name / "SKILL.md"
        return None

    def missing(self, row: dict[str, str], kind: str) -> None:
        self.files.warn(
            manifest_file(self.files, self.installation, kind),
            1,
            f"{kind} {row.get('name')!r} is listed but {row.get('path')!r} is not installed",
        )


def manifest_file(files: RepoFiles, installation: Installation, kind: str) -> Path:
    folder = installation.manifest_folder or files.root
    return folder / f"{kind}-manifest.csv"


def is_workflow_file(path: Path) -> bool:
    if not path.is_file() or any(p.startswith("steps") for p in path.parent.parts[-1:]):
        return False
    return path.name in ("workflow.yaml", "SKILL.md") or (
        path.name.startswith("workflow") and path.suffix == ".md"
    )
