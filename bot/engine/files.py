"""Reading a repository's BMAD files safely: inside the repository, whatever their encoding.

Every path a workflow names goes through `RepoFiles.locate`, which refuses what would leave the
repository (`..`, absolute paths, symlinks pointing out) and URLs, so nothing in a workflow can
make the engine read or write elsewhere.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from bot.engine.model import Diagnostic, Source

#: libyaml's loader where it is built in: these installs are hundreds of YAML files.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

T = TypeVar("T")
#: Larger files are not BMAD instructions; they are skipped with a warning.
MAX_FILE_BYTES = 2 * 2**20
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_WINDOWS_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")
_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)


class PathRefused(ValueError):
    """A path that would leave the repository, or a URL; the message says which."""


class RepoFiles:
    """The repository's files, as the loader may see them."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.diagnostics: list[Diagnostic] = []
        self._texts: dict[Path, str | None] = {}  # many workflows share step files
        self._resolved: dict[Path, Path] = {}
        self._memo: dict[Hashable, Any] = {}
        self._said: set[Diagnostic] = set()

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per key for this load (files do not change while it runs)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    def resolve(self, path: Path) -> Path:
        """`path.resolve()`, remembered: the loader asks for the same few hundred paths often."""
        found = self._resolved.get(path)
        if found is None:
            found = self._resolved[path] = path.resolve()
        return found

    def relative(self, path: Path) -> str:
        try:
            return self.resolve(path).relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def source(self, path: Path, line: int = 1) -> Source:
        return Source(self.relative(path), line)

    def warn(self, path: Path, line: int, message: str) -> None:
        self.report(Diagnostic("warning", self.source(path, line), message))

    def error(self, path: Path, line: int, message: str) -> None:
        self.report(Diagnostic("error", self.source(path, line), message))

    def report(self, diagnostic: Diagnostic) -> None:
        if diagnostic not in self._said:  # a shared file is reported once
            self._said.add(diagnostic)
            self.diagnostics.append(diagnostic)

    def locate(self, reference: str, base: Path | None = None) -> Path:
        """The file a workflow means by `reference` (variables already resolved, so
        `{project-root}` is the repository's absolute path), if it is inside the repository;
        relative references are taken from `base`."""
        text = reference.strip().strip("`'\"").replace("\\", "/")
        if _URL.match(text):
            raise PathRefused(f"{reference!r} is a URL; workflows may only name repository files")
        if _WINDOWS_DRIVE.match(text):
            raise PathRefused(f"{reference!r} is an absolute path outside the repository")
        candidate = Path(text) if text.startswith("/") else (base or self.root) / text
        resolved = self.resolve(candidate)
        if not resolved.is_relative_to(self.root):
            raise PathRefused(f"{reference!r} leads outside the repository")
        return resolved

    def inside(self, path: Path) -> bool:
        return self.resolve(path).is_relative_to(self.root)

    def read_text(self, path: Path) -> str | None:
        """The file as text with LF line endings, or None (and a warning) if unreadable."""
        if path not in self._texts:
            self._texts[path] = self._read_text(path)
        return self._texts[path]

    def _read_text(self, path: Path) -> str | None:
        if not self.inside(path):
            self.error(path, 1, "a symbolic link that leads outside the repository")
            return None
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                self.warn(path, 1, f"larger than {MAX_FILE_BYTES // 2**20} MiB; skipped")
                return None
            raw = path.read_bytes()
        except OSError as exc:
            self.warn(path, 1, f"cannot be read: {exc.strerror or exc}")
            return None
        text = raw.decode("utf-8-sig", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def line_of(self, path: Path, key: str) -> int:
        """The line where a top-level `key:` is set in a YAML file (1 when it is not)."""
        text = self.read_text(path) or ""
        for number, line in enumerate(text.split("\n"), 1):
            if line.startswith((f"{key}:", f'"{key}":', f"'{key}':")):
                return number
        return 1

    def read_yaml(self, path: Path) -> Any:
        text = self.read_text(path)
        if text is None:
            return None
        try:
            return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            self.error(path, _yaml_line(exc), f"not valid YAML: {_yaml_problem(exc)}")
            return None

    def read_toml(self, path: Path) -> dict[str, Any] | None:
        text = self.read_text(path)
        if text is None:
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
            self.error(path, line, f"not valid TOML: {exc}")
            return None

    def front_matter(self, path: Path, text: str) -> tuple[dict[str, Any], str, int]:
        """Split `---` front matter from the body: (fields, body, the body's first line).

        Front matter that is not valid YAML is a warning (BMAD 6.0.4 ships such a step
        file); its fields are then read line by line as `key: value`.
        """
        if not text.startswith("---\n"):
            return {}, text, 1
        closing = _FENCE.search(text, 4)
        if closing is None:
            return {}, text, 1
        block = text[4 : closing.start()]
        body = text[closing.end() + 1 :]
        first_body_line = text.count("\n", 0, closing.end()) + 2
        try:
            data = yaml.load(block, Loader=_SafeLoader) or {}  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            self.warn(
                path,
                _yaml_line(exc) + 1,
                f"front matter is not valid YAML ({_yaml_problem(exc)}); read it line by line",
            )
            data = _loose_fields(block)
        if not isinstance(data, dict):
            self.warn(path, 2, "front matter is not a mapping; ignored")
            data = {}
        return {str(k): v for k, v in data.items()}, body, first_body_line


def _yaml_line(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return int(mark.line) + 1 if mark is not None else 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).strip()


def _loose_fields(block: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "-", "#")):
            fields[key.strip()] = value.strip().strip("'\"")
    return fields
