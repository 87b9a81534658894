"""Per-run cgroups (v2, or v1 hierarchies) for memory, CPU and process-count limits.

As root, RLIMIT_NPROC is not enforced, so a cgroup is the only sound process cap; where none is
writable the sandbox says so and falls back to rlimits (see `Sandbox.describe`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from bot.sandbox.policy import Limits

log = logging.getLogger(__name__)

CONTROLLERS = ("pids", "memory", "cpu")
_CPU_PERIOD_US = 100_000


@dataclasses.dataclass(frozen=True, slots=True)
class CgroupPlace:
    """Where per-run groups are made: one base for v2, one per controller for v1."""

    version: int
    bases: Mapping[str, Path]

    def describe(self) -> str:
        where = ", ".join(f"{c}={p}" for c, p in self.bases.items())
        return f"cgroup v{self.version} ({where})"


def find_place(
    configured: Path | None = None, mounts: Path = Path("/proc/self/mounts")
) -> CgroupPlace | str:
    """A writable place for per-run cgroups, or the reason there is none."""
    if configured is not None:
        return (
            _v2_place(configured)
            if (configured / "cgroup.controllers").exists()
            else (f"{configured} is not a cgroup v2 directory")
        )
    reasons: list[str] = []
    table = _mounts(mounts)
    for point in (p for p, (kind, _) in table.items() if kind == "cgroup2"):
        found = _v2_place(point / _own_path(""))
        if isinstance(found, CgroupPlace):
            return found
        reasons.append(found)
    v1 = {
        c: p
        for p, (kind, opts) in table.items()
        if kind == "cgroup"
        for c in opts
        if c in CONTROLLERS
    }
    if "pids" in v1:
        bases: dict[str, Path] = {}
        for controller, point in v1.items():
            own = point / _own_path(controller)
            base = own if own.is_dir() else point
            if _can_make_child(base):
                bases[controller] = base
        if "pids" in bases:
            return CgroupPlace(1, bases)
        reasons.append("cgroup v1 pids hierarchy is not writable")
    return "; ".join(reasons) or "no cgroup hierarchy with the pids controller is mounted"


def _mounts(path: Path) -> dict[Path, tuple[str, set[str]]]:
    table: dict[Path, tuple[str, set[str]]] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] in {"cgroup", "cgroup2"}:
                table[Path(fields[1])] = (fields[2], set(fields[3].split(",")))
    return table


def _own_path(controller: str) -> str:
    """This process's cgroup path for `controller` ("" for the v2 hierarchy), relative."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if (controller == "" and names == "") or controller in names.split(","):
                return path.lstrip("/")
    return ""


def _v2_place(base: Path) -> CgroupPlace | str:
    try:
        available = set((base / "cgroup.controllers").read_text().split())
    except OSError as exc:
        return f"{base}: {exc.strerror}"
    wanted = [c for c in CONTROLLERS if c in available]
    if "pids" not in wanted:
        return f"{base}: the pids controller is not available to this cgroup"
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    missing = [c for c in wanted if c not in enabled]
    if missing:
        try:
            (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
        except OSError as exc:
            return f"{base}: cannot enable {', '.join(missing)} for children ({exc.strerror})"
    if not _can_make_child(base):
        return f"{base}: not writable"
    return CgroupPlace(2, {c: base for c in wanted})


def _can_make_child(base: Path) -> bool:
    probe = base / f"orchestrator-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError:
        return False
    return True


class RunGroup:
    """One run's cgroup(s): limits written at creation, every process killed at the end."""

    def __init__(self, place: CgroupPlace, name: str) -> None:
        self.place = place
        self.dirs = {c: base / name for c, base in place.bases.items()}

    def create(self, limits: Limits) -> None:
        for directory in set(self.dirs.values()):
            directory.mkdir()
        quota = max(1000, int(limits.cpus * _CPU_PERIOD_US))
        if self.place.version == 2:
            self._write("pids", "pids.max", limits.pids)
            self._write("memory", "memory.max", limits.memory_bytes)
            self._write("memory", "memory.swap.max", 0, optional=True)
            self._write("memory", "memory.oom.group", 1, optional=True)
            self._write("cpu", "cpu.max", f"{quota} {_CPU_PERIOD_US}")
        else:
            self._write("pids", "pids.max", limits.pids)
            self._write("memory", "memory.limit_in_bytes", limits.memory_bytes)
            self._write("memory", "memory.memsw.limit_in_bytes", limits.memory_bytes, optional=True)
            self._write("cpu", "cpu.cfs_period_us", _CPU_PERIOD_US)
            self._write("cpu", "cpu.cfs_quota_us", quota)

    @property
    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def peak_pids(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return int((self.dirs["pids"] / "pids.peak").read_text())
        return None

    def members(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in Path(procs).read_text().split())
        return found

    def kill(self) -> None:
        """SIGKILL every process in the group until none is left (forks race the first pass)."""
        kill_file = self.dirs["pids"] / "cgroup.kill"
        if self.place.version == 2 and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        deadline = time.monotonic() + 5.0
        while (pids := self.members()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        deadline = time.monotonic() + 5.0
        for directory in set(self.dirs.values()):
            while directory.exists():
                try:
                    directory.rmdir()
                except OSError as exc:
                    if time.monotonic() > deadline:
                        log.warning(
                            "sandbox cgroup left behind",
                            extra={"cgroup": str(directory), "error": exc.strerror},
                        )
                        break
                    time.sleep(0.02)

    def _write(self, controller: str, name: str, value: object, optional: bool = False) -> None:
        directory = self.dirs.get(controller)
        if directory is None:
            return
        try:
            (directory / name).write_text(str(value))
        except OSError:
            if not optional:
                raise
