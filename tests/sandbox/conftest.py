"""The real sandbox, and a data dir laid out like the server's: a key, a journal, two worktrees."""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.git.worktrees import Worktrees, repository_dirs
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN
from bot.sandbox.policy import Limits, Mode
from bot.sandbox.runner import Sandbox
from tests.git.conftest import REPO, make_clone

#: Small limits so each hostile case ends quickly; the defaults are for real test suites.
LIMITS = Limits(
    time_s=20.0,
    output_bytes=64 << 10,
    memory_bytes=256 << 20,
    pids=64,
    cpus=1.0,
    file_bytes=8 << 20,
    tmp_bytes=16 << 20,
)


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    """Fails (never skips) in CI when bubblewrap cannot isolate: `.ci/run` installs it."""
    found = Sandbox.detect(mode=Mode.BUBBLEWRAP, limits=LIMITS, toolchain=DEFAULT_TOOLCHAIN)
    if found.refusal is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the sandbox cannot run here: {found.refusal}")
        pytest.skip(f"the sandbox cannot run here: {found.refusal}")
    return found


@dataclasses.dataclass
class Server:
    """What repository code must never reach: the server's secrets and other stories' files."""

    data_dir: Path
    key_path: Path
    secrets: tuple[str, ...]
    worktree: Path  # the story under test
    other: Path  # another story's worktree


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    key = f"-----BEGIN RSA PRIVATE KEY-----{uuid.uuid4().hex}"
    token, webhook = f"ghs_{uuid.uuid4().hex}", f"whsec-{uuid.uuid4().hex}"
    make_clone(tmp_path, data_dir)
    clone, root = repository_dirs(data_dir, REPO)
    trees = Worktrees(clone, root)
    worktree = trees.ensure_blocking("1-1-hostile", "origin/main")
    other = trees.ensure_blocking("1-2-neighbour", "origin/main")
    other_secret = f"neighbour-{uuid.uuid4().hex}"
    (other / "secret.txt").write_text(other_secret)
    key_path = data_dir / "app.private-key.pem"
    key_path.write_text(key)
    (data_dir / "journal.sqlite3").write_text(f"journal {token}")
    for name, value in (
        ("GITHUB_PRIVATE_KEY", key),
        ("GITHUB_WEBHOOK_SECRET", webhook),
        ("GITHUB_TOKEN", token),
        ("GITHUB_PRIVATE_KEY_PATH", str(key_path)),
        ("ORCHESTRATOR_DATA_DIR", str(data_dir)),
    ):
        monkeypatch.setenv(name, value)
    yield Server(data_dir, key_path, (key, webhook, token, other_secret), worktree, other)
    shutil.rmtree(tmp_path, ignore_errors=True)


def leftovers(token: str) -> list[str]:
    """Command lines of live processes that mention `token` (the hostile command carries it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found
