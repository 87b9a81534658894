"""What a sandboxed run may use, and the environment it starts with (built from scratch)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

#: Where the worktree appears inside the sandbox: the host's layout (data dir) stays hidden.
WORKSPACE = "/workspace"
SANDBOX_HOME = "/tmp/home"  # noqa: S108 - a fresh tmpfs inside the sandbox, not the host's /tmp
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Mode(enum.StrEnum):
    """How repository code runs; the operator chooses, the bot never downgrades on its own."""

    BUBBLEWRAP = "bubblewrap"
    #: Explicitly unsafe: no isolation at all, only a clean environment and the limits.
    UNSAFE_HOST = "unsafe-host"


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Per run: wall time, captured output, memory, processes, CPU share, largest file, /tmp."""

    time_s: float = 900.0
    output_bytes: int = 1 << 20
    memory_bytes: int = 4 << 30
    pids: int = 512
    cpus: float = 1.0
    file_bytes: int = 2 << 30
    tmp_bytes: int = 512 << 20


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A fresh environment: nothing of the server's (tokens, keys, paths) is carried over."""
    env = {
        "PATH": SANDBOX_PATH,
        "HOME": SANDBOX_HOME,
        "TMPDIR": "/tmp",  # noqa: S108 - the sandbox's own tmpfs
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "CI": "true",
    }
    env.update(extra or {})
    return env
