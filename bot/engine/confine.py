"""What an agent may read and write in a repository: one policy for every path.

The agents' tools, the executor's writes (a task agent's reply, a recording) and the redo log
replayed from a checkpoint all ask this one object. Hidden places are neither read nor written
by agents, at any depth: git's internals, `.env*` files, virtual environments, dependency
folders, the orchestrator's own data (whatever its folder is called). Read-only places are
read but never written: `.github/` (Actions run with the repository's secrets) and the BMAD
install itself (an agent that rewrote the next step file would steer the rest of the run).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from bot.engine.files import PathRefused
from bot.engine.installation import BMAD_FOLDERS, MANIFEST_FOLDERS, SKILL_FOLDERS
from bot.engine.loader import Project

#: Never shown to an agent, at any depth: where credentials, the run's state and other
#: programs' files live.
HIDDEN_NAMES = frozenset({".git", ".orchestrator", ".venv", "node_modules"})
#: The BMAD install and the editors' skill folders: read, never written by an agent.
INSTALL_FOLDERS = (*BMAD_FOLDERS, *SKILL_FOLDERS)
READ_ONLY_FOLDERS = (".github",)


class Confinement:
    """The paths of one repository that agents may read and write."""

    def __init__(
        self,
        root: Path,
        *,
        read_only: Iterable[str] = (),
        hidden: Iterable[Path] = (),
    ) -> None:
        self.root = root.resolve()
        self._read_only = tuple(
            dict.fromkeys(p.strip("/") for p in (*READ_ONLY_FOLDERS, *INSTALL_FOLDERS, *read_only))
        )
        # Folders of the host's that happen to sit inside the repository (the data dir when
        # run from a checkout): hidden whatever their names.
        self._hidden: list[str] = []
        for folder in hidden:
            resolved = folder.resolve()
            if resolved == self.root or self.root.is_relative_to(resolved):
                raise ValueError(f"the repository {self.root} lies inside {resolved}")
            if resolved.is_relative_to(self.root):
                self._hidden.append(resolved.relative_to(self.root).as_posix())

    def relative(self, reference: str | Path) -> str:
        """`reference` as a repository-relative POSIX path, after following links; refused
        when it is absolute elsewhere, climbs out with `..`, or a link leads out."""
        text = str(reference).strip().replace("\\", "/")
        if not text:
            raise PathRefused("an empty path")
        if len(text) > 1 and text[1] == ":":
            raise PathRefused(f"{reference!r}: only paths inside the repository")
        pure = PurePosixPath(text)
        if not pure.is_absolute() and ".." in pure.parts:
            raise PathRefused(f"{reference!r}: '..' leads outside the repository")
        full = (Path(pure) if pure.is_absolute() else self.root / pure).resolve()
        if not full.is_relative_to(self.root):
            how = "" if pure.is_absolute() else "a link that "
            raise PathRefused(f"{reference!r}: {how}leads outside the repository")
        return full.relative_to(self.root).as_posix() if full != self.root else "."

    def hidden(self, relative: str) -> str | None:
        """Why an agent may not see `relative`, or None."""
        parts = PurePosixPath(relative).parts
        for part in parts:
            if part in HIDDEN_NAMES or part.startswith(".env"):
                return f"{relative!r}: not available to agents ({part})"
        for folder in self._hidden:
            if _under(relative, folder):
                return f"{relative!r}: not available to agents (the orchestrator's data)"
        return None

    def check_read(self, reference: str | Path) -> str:
        """The repository-relative path an agent may read, or PathRefused."""
        relative = self.relative(reference)
        for literal in (_literal(self.root, reference), relative):
            reason = self.hidden(literal)
            if reason is not None:
                raise PathRefused(reason)
        return relative

    def check_write(self, reference: str | Path) -> str:
        """The repository-relative path an agent may write, or PathRefused. The path as named
        and the path it leads to (through links) are both checked."""
        relative = self.check_read(reference)
        for candidate in (_literal(self.root, reference), relative):
            if candidate == ".":
                raise PathRefused("the repository itself is not a file")
            folder = next((f for f in self._read_only if _under(candidate, f)), None)
            if folder is not None:
                raise PathRefused(f"{candidate!r}: agents may read {folder}/ but never change it")
        return relative

    def visible(self, relative: str) -> bool:
        return self.hidden(relative) is None


def _under(relative: str, folder: str) -> bool:
    return relative == folder or relative.startswith(folder + "/")


def _literal(root: Path, reference: str | Path) -> str:
    """The path as named, made relative without following links (so a link named
    `docs/x` that points into `.git/` is judged by both names)."""
    text = str(reference).strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if pure.is_absolute():
        try:
            pure = pure.relative_to(root)
        except ValueError:
            return text
    return pure.as_posix()


def confinement_for(project: Project, *, hidden: Iterable[Path] = ()) -> Confinement:
    """The policy for a loaded project: its install read-only wherever it sits (a root
    install's module folders too), `hidden` (the data dir) never seen."""
    install = project.installation
    root = project.repository.resolve()
    read_only: list[str] = []
    if install.root is not None:
        folder = install.root.resolve()
        if folder == root:  # installed at the repository's root: its modules and manifests
            read_only += [*install.modules, *MANIFEST_FOLDERS, "core"]
        elif folder.is_relative_to(root):
            read_only.append(folder.relative_to(root).as_posix())
    read_only += [
        f.resolve().relative_to(root).as_posix()
        for f in install.skill_folders
        if f.resolve().is_relative_to(root)
    ]
    return Confinement(root, read_only=read_only, hidden=hidden)
