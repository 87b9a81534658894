"""The bubblewrap command line: only the worktree (writable) and the toolchain (read-only) exist."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.sandbox.policy import SANDBOX_HOME, WORKSPACE

#: What a build needs to run: programs, libraries, the loader's cache, certificates, users.
#: Never the data dir, the App's key, the server's home or other worktrees.
DEFAULT_TOOLCHAIN = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/localtime",
)


def toolchain_mounts(paths: Sequence[str]) -> list[str]:
    """`--ro-bind` each existing path; a top-level symlink (`/bin -> usr/bin`) stays a symlink."""
    args: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_symlink() and path.parent == Path("/"):
            args += ["--symlink", str(path.readlink()), raw]
        elif path.exists():
            args += ["--ro-bind", raw, raw]
    return args


def bwrap_argv(
    bwrap: str,
    worktree: Path,
    command: Sequence[str],
    *,
    toolchain: Sequence[str],
    env: Mapping[str, str],
    network: bool,
    tmp_bytes: int,
) -> list[str]:
    """Fresh user, PID, IPC, UTS, cgroup and (unless `network`) network namespaces; no caps."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000"]
    if network:
        argv.append("--share-net")
    argv += [
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        *toolchain_mounts(toolchain),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(tmp_bytes),
        "--tmpfs",
        "/tmp",  # noqa: S108 - a fresh tmpfs inside the sandbox
        "--dir",
        SANDBOX_HOME,
        "--bind",
        str(worktree),
        WORKSPACE,
        # The root bubblewrap builds is a tmpfs: read-only, so /etc/x or /x cannot be made.
        "--remount-ro",
        "/",
        "--chdir",
        WORKSPACE,
        "--clearenv",
    ]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", *command]


def probe(bwrap: str, toolchain: Sequence[str], timeout_s: float = 10.0) -> str | None:
    """Run `true` the way real runs go; None when it works, else why it does not."""
    argv = bwrap_argv(
        bwrap,
        Path("/"),
        ["/bin/sh", "-c", "true"],
        toolchain=toolchain,
        env={"PATH": "/usr/bin:/bin"},
        network=False,
        tmp_bytes=1 << 20,
    )
    # The probe binds "/" read-write only to have a directory to bind; it runs `true`.
    argv[argv.index("--bind")] = "--ro-bind"
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command line
            argv, capture_output=True, timeout=timeout_s, env={}, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap}: {exc}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        return f"bubblewrap cannot isolate here: {detail}"
    return None
