"""The tools an agent works through, confined to its working directory.

Paths are taken relative to the workspace; `..`, absolute paths, symlinks that lead out,
`/proc`, device files and anything that is not a regular file or folder are refused. Writes
are kept in the workspace's buffer (reads see them) and handed to the engine, which makes
them after its checkpoint, so a crash never leaves half a step on disk. No tool reads the
process environment, and secrets never reach the model through one.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from bot.engine.confine import Confinement
from bot.engine.files import PathRefused
from bot.llm.types import ToolSpec

MAX_READ_CHARS = 60_000
MAX_LIST = 500
MAX_MATCHES = 100


class Refused(Exception):
    """The tool call is not allowed; the message goes back to the model as the result."""


def _spec(name: str, description: str, **properties: Any) -> ToolSpec:
    return ToolSpec(
        name,
        description,
        {"type": "object", "properties": properties, "required": list(properties)},
    )


STRING = {"type": "string"}
TOOLS = (
    _spec("read_file", "Read a file of the workspace", path=STRING),
    _spec("list_dir", "List a folder of the workspace ('.' for the top)", path=STRING),
    _spec("search", "Find lines containing text in the workspace's files", text=STRING),
    _spec("write_file", "Write a whole file", path=STRING, content=STRING),
    _spec(
        "edit_file",
        "Replace text in a file (the first occurrence)",
        path=STRING,
        old=STRING,
        new=STRING,
    ),
    _spec("ask", "Ask a question you cannot answer from the files", question=STRING),
    _spec("report_progress", "Say what you have done so far", text=STRING),
    _spec("done", "Declare the step done, with a summary", summary=STRING),
)


@dataclasses.dataclass
class Workspace:
    """The repository as an agent's tools see it; `confinement` decides every path (the same
    policy the engine applies to the writes it makes)."""

    root: Path
    confinement: Confinement | None = None
    writes: dict[str, str] = dataclasses.field(default_factory=dict)  # relative -> content

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        if self.confinement is None:
            self.confinement = Confinement(self.root)
        self._policy: Confinement = self.confinement

    def locate(self, path: str, *, write: bool = False) -> tuple[str, Path]:
        text = str(path).strip().replace("\\", "/")
        if not text or PurePosixPath(text).is_absolute():
            raise Refused(f"{path!r}: only paths inside the workspace, relative to it")
        try:
            relative = (self._policy.check_write if write else self._policy.check_read)(text)
        except PathRefused as refused:
            raise Refused(str(refused)) from refused
        return relative, self.root / relative if relative != "." else self.root

    def read(self, path: str) -> str:
        relative, full = self.locate(path)
        if relative in self.writes:
            return self.writes[relative][:MAX_READ_CHARS]
        try:
            mode = full.stat().st_mode
        except OSError as exc:
            raise Refused(f"{path!r}: {exc.strerror or 'cannot be read'}") from exc
        if not stat.S_ISREG(mode):
            raise Refused(f"{path!r}: not a regular file")
        return full.read_text(encoding="utf-8", errors="replace")[:MAX_READ_CHARS]

    def list_dir(self, path: str) -> str:
        relative, full = self.locate(path or ".")
        if not full.is_dir():
            raise Refused(f"{path!r}: not a folder")
        names = sorted(
            f"{entry.name}/" if entry.is_dir() else entry.name
            for entry in full.iterdir()
            if self._policy.visible(_join(relative, entry.name))
        )
        pending = sorted(p for p in self.writes if p.rpartition("/")[0] == relative.strip("."))
        return "\n".join(dict.fromkeys([*names, *pending][:MAX_LIST]))

    def search(self, text: str) -> str:
        found: list[str] = []
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder).relative_to(self.root).as_posix()
            dirs[:] = [d for d in dirs if self._policy.visible(_join(here, d))]
            for name in files:
                relative = _join(here, name)
                if not self._policy.visible(relative):
                    continue
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file() or path.stat().st_size > 2**20:
                    continue
                content = self.writes.get(relative)
                if content is None:
                    try:
                        content = path.read_text(encoding="utf-8", errors="ignore")
                    except OSError:
                        continue
                for number, line in enumerate(content.splitlines(), 1):
                    if text in line:
                        found.append(f"{relative}:{number}: {line.strip()[:200]}")
                        if len(found) >= MAX_MATCHES:
                            return "\n".join(found)
        return "\n".join(found) or "no matches"

    def write(self, path: str, content: str) -> str:
        relative, full = self.locate(path, write=True)
        if full.exists() and not full.is_file():
            raise Refused(f"{path!r}: not a regular file")
        self.writes[relative] = str(content)
        return f"wrote {relative} ({len(str(content))} characters)"

    def edit(self, path: str, old: str, new: str) -> str:
        current = self.read(path)
        if old not in current:
            raise Refused(f"{path!r}: the text to replace is not in the file")
        return self.write(path, current.replace(old, new, 1))


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def run_tool(
    workspace: Workspace,
    name: str,
    arguments: Mapping[str, Any],
    extra: Mapping[str, Callable[..., str]] | None = None,
) -> str:
    """A tool's result as text for the model; a refusal is a result too, never a crash."""
    handlers: dict[str, Callable[..., str]] = {
        "read_file": lambda path: workspace.read(path),
        "list_dir": lambda path=".": workspace.list_dir(path),
        "search": lambda text: workspace.search(text),
        "write_file": lambda path, content: workspace.write(path, content),
        "edit_file": lambda path, old, new: workspace.edit(path, old, new),
        **(extra or {}),
    }
    handler = handlers.get(name)
    if handler is None:
        return f"refused: {name!r} is not one of your tools"
    try:
        return handler(**{k: v for k, v in arguments.items() if isinstance(k, str)})
    except Refused as refused:
        return f"refused: {refused}"
    except TypeError as exc:
        return f"refused: wrong arguments for {name}: {exc}"
