"""Where a repository's `sprint-status.yaml` lives: as its BMAD install configures it
(`implementation_artifacts`, or a workflow's own `sprint_status` variable), relative to the
repository root, with `/` separators whatever the config was written on."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from bot.engine.files import RepoFiles
from bot.engine.installation import discover
from bot.engine.variables import as_path, resolve

FILE_NAME = "sprint-status.yaml"
#: BMAD's default when an install says nothing (`{output_folder}/implementation-artifacts`).
DEFAULT = f"_bmad-output/implementation-artifacts/{FILE_NAME}"
#: The names BMAD's workflows give the file, newest first.
_VARIABLES = ("sprint_status", "sprint_status_file", "status_file")


def sprint_status_path(repository: Path, variables: Mapping[str, Any] | None = None) -> str:
    """The file's path in the repository. A loaded workflow's `variables` (sprint planning's
    or dev-story's) win, since a customization may move it; else the install's config."""
    root = repository.resolve()
    for name in _VARIABLES:
        value = (variables or {}).get(name)
        if isinstance(value, str) and value.strip() and "{" not in value:
            return _relative(root, value)
    installation = discover(RepoFiles(root))
    config = {**installation.config}
    for values in installation.module_config.values():
        config.update({k: v for k, v in values.items() if k not in config})
    values = resolve({}, config, {"project-root": str(root)})
    folder = values.get("implementation_artifacts")
    if not isinstance(folder, str) or "{" in folder or not folder.strip():
        output = values.get("output_folder")
        if isinstance(output, str) and output.strip() and "{" not in output:
            folder = f"{output.rstrip('/')}/implementation-artifacts"
        else:
            return DEFAULT
    return _relative(root, f"{folder.rstrip('/')}/{FILE_NAME}")


def _relative(root: Path, value: str) -> str:
    """A configured path as the repository names it: `{project-root}/x` and `x` alike."""
    path = PurePosixPath(as_path(value))
    if path.is_absolute():
        try:
            return str(path.relative_to(PurePosixPath(root.as_posix())))
        except ValueError:
            return str(path)  # outside the repository: shown as configured
    return str(path).removeprefix("./")
