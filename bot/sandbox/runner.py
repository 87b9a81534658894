"""The sandbox: run one shell command from a repository in its worktree, isolated and limited."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.sandbox.bwrap import bwrap_argv, probe
from bot.sandbox.cgroup import CgroupPlace, RunGroup, find_place
from bot.sandbox.policy import Limits, Mode, environment

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launch.py")
_DRAIN_S = 5.0


class SandboxRefused(RuntimeError):
    """Repository code may not run here: bubblewrap cannot isolate and no unsafe mode is set."""


@dataclasses.dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int | None  # None when the time limit ended the run
    output: bytes  # stdout and stderr together, capped (head and tail kept)
    truncated: bool
    timed_out: bool
    duration_s: float
    peak_pids: int | None  # from the run's cgroup, when there is one

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclasses.dataclass(frozen=True, slots=True)
class Sandbox:
    """Made once at start-up by `detect`; `run` is safe to call concurrently."""

    mode: Mode
    limits: Limits
    toolchain: tuple[str, ...]
    bwrap: str | None = None
    refusal: str | None = None
    cgroups: CgroupPlace | None = None
    cgroup_reason: str | None = None
    python: str = sys.executable

    @classmethod
    def detect(
        cls,
        *,
        mode: Mode,
        limits: Limits,
        toolchain: Sequence[str],
        forbidden: Sequence[Path] = (),
        cgroup_dir: Path | None = None,
    ) -> Sandbox:
        """Blocking (it runs bubblewrap once): call it off the event loop."""
        _check_toolchain(toolchain, forbidden)
        place = find_place(cgroup_dir)
        cgroups = place if isinstance(place, CgroupPlace) else None
        reason = place if isinstance(place, str) else None
        if mode is Mode.UNSAFE_HOST:
            return cls(mode, limits, tuple(toolchain), cgroups=cgroups, cgroup_reason=reason)
        bwrap = shutil.which("bwrap")
        refusal = (
            "bubblewrap (bwrap) is not installed" if bwrap is None else probe(bwrap, toolchain)
        )
        if refusal:
            log.error("sandbox refuses repository code", extra={"reason": refusal})
        return cls(mode, limits, tuple(toolchain), bwrap, refusal, cgroups, reason)

    def describe(self) -> dict[str, object]:
        """For /readyz (and every PR the bot opens): which mode, and what limits apply."""
        return {
            "mode": self.mode.value,
            "isolated": self.mode is Mode.BUBBLEWRAP and self.refusal is None,
            "runs_repository_code": self.refusal is None,
            "refusal": self.refusal,
            "limits": (
                self.cgroups.describe()
                if self.cgroups
                else f"rlimits only (no cgroup: {self.cgroup_reason})"
            ),
        }

    async def run(
        self,
        worktree: Path,
        command: str,
        *,
        network: bool = False,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        """Run `sh -c command` in `worktree`; the whole process tree is gone when this returns.
        `env` adds to the clean environment (never the server's own)."""
        if self.refusal is not None:
            raise SandboxRefused(self.refusal)
        limits = limits or self.limits
        worktree = await asyncio.to_thread(worktree.resolve)
        group = RunGroup(self.cgroups, f"orchestrator-{uuid.uuid4().hex}") if self.cgroups else None
        scratch = None if self.bwrap else Path(tempfile.mkdtemp(prefix="sandbox-home-"))
        try:
            if group is not None:
                await asyncio.to_thread(group.create, limits)
            return await self._run(worktree, command, network, limits, group, scratch, env or {})
        finally:
            if group is not None:
                await asyncio.to_thread(group.remove)
            if scratch is not None:
                await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _run(
        self,
        worktree: Path,
        command: str,
        network: bool,
        limits: Limits,
        group: RunGroup | None,
        scratch: Path | None,
        extra: Mapping[str, str],
    ) -> RunResult:
        if self.bwrap is not None:
            env = environment(extra)
            argv = bwrap_argv(
                self.bwrap,
                worktree,
                ["/bin/sh", "-c", command],
                toolchain=self.toolchain,
                env=env,
                network=network,
                tmp_bytes=limits.tmp_bytes,
            )
        else:
            env = environment({**extra, "HOME": str(scratch), "TMPDIR": str(scratch)})
            argv = ["/bin/sh", "-c", command]
        spec = {
            "cgroup_procs": group.procs_files if group else [],
            "rlimits": _rlimits(limits, cgroup=group is not None),
            "argv": argv,
        }
        started = time.monotonic()
        # The launcher and bubblewrap get the clean environment too: /proc/1/environ in the
        # sandbox is bubblewrap's own.
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-I",
            "-S",
            str(LAUNCHER),
            json.dumps(spec),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=worktree,
            start_new_session=True,
        )
        assert proc.stdout is not None
        reader = asyncio.create_task(_collect(proc.stdout, limits.output_bytes))
        timed_out = False
        try:
            async with asyncio.timeout(limits.time_s):
                await proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if group is not None:
                await asyncio.to_thread(group.kill)
            await proc.wait()
        try:
            async with asyncio.timeout(_DRAIN_S):
                output, truncated = await reader
        except TimeoutError:
            output, truncated = b"", True
        result = RunResult(
            exit_code=None if timed_out else proc.returncode,
            output=output,
            truncated=truncated,
            timed_out=timed_out,
            duration_s=time.monotonic() - started,
            peak_pids=group.peak_pids() if group else None,
        )
        log.info(
            "sandboxed command finished",
            extra={
                "mode": self.mode.value,
                "network": network,
                "exit_code": result.exit_code,
                "timed_out": timed_out,
                "duration_s": round(result.duration_s, 3),
                "output_bytes": len(output),
            },
        )
        return result


def _rlimits(limits: Limits, *, cgroup: bool) -> dict[str, int]:
    """Always: no core files, the largest file. Without a cgroup also processes, memory, CPU."""
    found = {"CORE": 0, "FSIZE": limits.file_bytes}
    if not cgroup:
        found.update(
            NPROC=limits.pids, AS=limits.memory_bytes, CPU=max(1, int(limits.time_s * limits.cpus))
        )
    return found


async def _collect(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Read to the end; past `cap`, keep the first and last halves and count what was dropped."""
    head = bytearray()
    tail = bytearray()
    dropped = 0
    half = cap // 2
    while chunk := await stream.read(1 << 16):
        if not tail and len(head) + len(chunk) <= cap:
            head += chunk
            continue
        if not tail:
            tail, head = head[half:], head[:half]
        tail += chunk
        if len(tail) > cap - half:
            dropped += len(tail) - (cap - half)
            del tail[: len(tail) - (cap - half)]
    if not dropped:
        return bytes(head + tail), False
    return bytes(head) + f"\n[... {dropped} bytes left out ...]\n".encode() + bytes(tail), True


def _check_toolchain(toolchain: Sequence[str], forbidden: Sequence[Path]) -> None:
    """A toolchain entry that holds the data dir or the key would hand them to repository code."""
    for entry in toolchain:
        top = Path(entry).resolve()
        for secret in forbidden:
            if secret.resolve().is_relative_to(top):
                raise ValueError(f"sandbox toolchain entry {entry} would expose {secret}")
