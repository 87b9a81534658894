"""Where BMAD is installed in a repository, which version, which modules, and their config.

People have it in `_bmad/` (6.x), `.bmad/` or `bmad/` with `_cfg/` (early alphas), at the
repository root, or only as skills in an editor's folder (`.claude/skills`, …). A BMAD v4
install (`.bmad-core/`) is recognised and answered with the upgrade path instead of misread.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
from typing import Any

from bot.engine.files import RepoFiles
from bot.engine.variables import as_path

BMAD_FOLDERS = ("_bmad", ".bmad", "bmad")
#: What makes a folder of an install a module, when no manifest lists the modules.
_MODULE_MARKERS = ("config.yaml", "module.yaml", "workflows", "agents", "tasks")
MANIFEST_FOLDERS = ("_config", "_cfg")
SKILL_FOLDERS = (
    ".claude/skills",
    ".github/skills",
    ".opencode/skills",
    ".agents/skills",
    ".cursor/skills",
    ".windsurf/skills",
    ".gemini/skills",
)
V4_FOLDER = ".bmad-core"
V4_MESSAGE = (
    "this is a BMAD v4 install (.bmad-core/), which Agent Orchestrator does not run. Upgrade "
    "the repository to BMAD v6 with `npx bmad-method install` (it moves v4 files aside and "
    "installs `_bmad/`), then commit the result"
)


@dataclasses.dataclass
class Installation:
    """A repository's BMAD install, before its workflows are read."""

    repository: Path
    root: Path | None  # the BMAD folder (`_bmad/`), or None when only skills are installed
    version: str | None
    modules: list[str]
    config: dict[str, Any]  # merged: core, then modules, then config.toml layers
    module_config: dict[str, dict[str, Any]]
    manifests: dict[str, list[dict[str, str]]]  # "workflow", "task", "agent", "skill" rows
    skill_folders: list[Path]
    v4: bool = False

    @property
    def manifest_folder(self) -> Path | None:
        if self.root is None:
            return None
        return next((self.root / m for m in MANIFEST_FOLDERS if (self.root / m).is_dir()), None)


def find_root(repository: Path) -> Path | None:
    for name in BMAD_FOLDERS:
        candidate = repository / name
        if candidate.is_dir() and _looks_installed(candidate):
            return candidate
    if _looks_installed(repository):
        return repository  # installed at the repository's root
    return None


def _looks_installed(folder: Path) -> bool:
    if any((folder / m / "manifest.yaml").is_file() for m in MANIFEST_FOLDERS):
        return True
    return (folder / "core").is_dir() and any(
        (child / "config.yaml").is_file() or (child / "module.yaml").is_file()
        for child in folder.iterdir()
        if child.is_dir()
    )


def discover(files: RepoFiles) -> Installation:
    repository = files.root
    root = find_root(repository)
    skill_folders = [repository / s for s in SKILL_FOLDERS if (repository / s).is_dir()]
    installation = Installation(repository, root, None, [], {}, {}, {}, skill_folders)
    if (repository / V4_FOLDER).is_dir():
        installation.v4 = True
        if root is None and not skill_folders:
            files.error(repository / V4_FOLDER, 1, V4_MESSAGE)
            return installation
    if root is None:
        if not skill_folders:
            files.error(
                repository,
                1,
                "no BMAD install found: no _bmad/, .bmad/ or bmad/ "
                "folder and no skills folder (install with `npx bmad-method install`)",
            )
        return installation
    _read_manifest(files, installation)
    _read_config(files, installation)
    return installation


def _read_manifest(files: RepoFiles, installation: Installation) -> None:
    folder = installation.manifest_folder
    assert installation.root is not None
    if folder is not None:
        data = files.read_yaml(folder / "manifest.yaml")
        if isinstance(data, dict):
            info = data.get("installation") or {}
            installation.version = str(info.get("version") or data.get("version") or "") or None
            for module in data.get("modules") or []:
                name = module.get("name") if isinstance(module, dict) else module
                if name:
                    installation.modules.append(str(name))
        for kind in ("workflow", "task", "agent", "skill", "tool"):
            path = folder / f"{kind}-manifest.csv"
            if path.is_file():
                text = files.read_text(path) or ""
                installation.manifests[kind] = list(csv.DictReader(io.StringIO(text)))
    if not installation.modules:  # no manifest: every folder that looks like a module is one
        installation.modules = sorted(
            child.name
            for child in installation.root.iterdir()
            if child.is_dir()
            and not child.name.startswith(("_", "."))
            and any((child / marker).exists() for marker in _MODULE_MARKERS)
        )


def _read_config(files: RepoFiles, installation: Installation) -> None:
    """Module `config.yaml` files, then `config.toml` with its team and personal overrides."""
    assert installation.root is not None
    merged: dict[str, Any] = {}
    for module in ["core", *[m for m in installation.modules if m != "core"]]:
        path = installation.root / module / "config.yaml"
        if not path.is_file():
            continue
        data = files.read_yaml(path)
        if isinstance(data, dict):
            installation.module_config[module] = data
            merged.update({str(k): v for k, v in data.items() if not isinstance(v, dict)})
    for name in (
        "config.toml",
        "config.user.toml",
        "custom/config.toml",
        "custom/config.user.toml",
    ):
        path = installation.root / name
        if path.is_file():
            data = files.read_toml(path) or {}
            merged.update({k: v for k, v in (data.get("core") or {}).items()})
            for module, values in (data.get("modules") or {}).items():
                if isinstance(values, dict):
                    installation.module_config.setdefault(module, {}).update(values)
                    merged.update(values)
            merged.update({k: v for k, v in data.items() if not isinstance(v, dict)})
    installation.config = _paths_with_slashes(merged)
    installation.module_config = {
        module: _paths_with_slashes(values) for module, values in installation.module_config.items()
    }


_PATH_SUFFIXES = ("_folder", "_artifacts", "_knowledge", "_path", "_file", "_dir")


def _paths_with_slashes(config: dict[str, Any]) -> dict[str, Any]:
    """Config written on Windows (`docs\\notes`) names the same folder as `docs/notes`."""
    return {
        k: as_path(v) if isinstance(v, str) and k.endswith(_PATH_SUFFIXES) else v
        for k, v in config.items()
    }
