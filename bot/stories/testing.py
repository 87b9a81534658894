"""The repository's test command: set in `.github/orchestrator.yml`, else detected from its
files; run by the orchestrator in the sandbox, in the story's worktree, its output trimmed
for a model (the end, where test runners put their failures and summary). The config's
`sandbox.setup` (installing dependencies) runs first, with network, once per worktree and
version of its dependency files (marked in the worktree's git folder, gone with it)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
from pathlib import Path

from bot.sandbox.policy import Limits
from bot.sandbox.runner import Sandbox

#: How much of a test run's output goes to a model and into a pull request: its last lines.
MODEL_TAIL_CHARS = 6_000
#: A test run leaves no bytecode: an edit of the same size in the same second would
#: otherwise be run as the stale `.pyc` (Python compares size and whole-second mtime).
QUIET_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MAKE_TEST = re.compile(r"^test\s*:", re.MULTILINE)
_PYTEST_MARKERS = ("pytest.ini", "conftest.py", "tox.ini", "setup.cfg", "pyproject.toml")


@dataclasses.dataclass(frozen=True, slots=True)
class TestCommand:
    __test__ = False  # not a test class, whatever pytest makes of the name

    command: str
    source: str  # "configured" or what it was detected from ("pyproject.toml", "go.mod", ...)
    setup: str | None = None  # the config's `sandbox.setup`, run first (with network)


@dataclasses.dataclass(frozen=True, slots=True)
class TestRun:
    __test__ = False

    command: str
    passed: bool
    exit_code: int | None  # None when the time limit ended it
    timed_out: bool
    duration_s: float
    tail: str  # the trimmed output a model and a person read

    @property
    def summary(self) -> str:
        """The runner's own last line (pytest's `1 failed, 3 passed in 0.2s`), or the status."""
        last = next((ln.strip(" =") for ln in reversed(self.tail.splitlines()) if ln.strip()), "")
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f} s"
        return last[:200] or f"exit code {self.exit_code}"


def detect(worktree: Path, configured: str | None, setup: str | None = None) -> TestCommand | None:
    """The command that runs the repository's tests (with `setup` before it), or None when
    none can be told."""
    found = _detect(worktree, configured)
    return dataclasses.replace(found, setup=setup) if found and setup else found


def _detect(worktree: Path, configured: str | None) -> TestCommand | None:
    if configured:
        return TestCommand(configured, "configured")
    if any((worktree / name).is_file() for name in _PYTEST_MARKERS) or _has_python_tests(worktree):
        source = next((n for n in _PYTEST_MARKERS if (worktree / n).is_file()), "test_*.py")
        return TestCommand("python3 -m pytest -q", source)
    package = worktree / "package.json"
    if package.is_file() and _npm_test(package):
        return TestCommand("npm test", "package.json")
    for marker, command in (("go.mod", "go test ./..."), ("Cargo.toml", "cargo test")):
        if (worktree / marker).is_file():
            return TestCommand(command, marker)
    makefile = worktree / "Makefile"
    if makefile.is_file() and _MAKE_TEST.search(makefile.read_text(errors="replace")):
        return TestCommand("make test", "Makefile")
    return None


def _has_python_tests(worktree: Path) -> bool:
    tests = worktree / "tests"
    return tests.is_dir() and any(tests.rglob("test_*.py"))


def _npm_test(package: Path) -> bool:
    try:
        scripts = json.loads(package.read_text()).get("scripts") or {}
    except (ValueError, AttributeError):
        return False
    script = scripts.get("test") if isinstance(scripts, dict) else None
    # npm init's placeholder fails by design: it is no test suite.
    return isinstance(script, str) and "no test specified" not in script


def trim(output: bytes, limit: int = MODEL_TAIL_CHARS) -> str:
    """The end of the output as text, colour codes gone, cut at a line start."""
    text = _ANSI.sub("", output.decode("utf-8", errors="replace")).replace("\r\n", "\n")
    if len(text) <= limit:
        return text.strip("\n")
    tail = text[-limit:]
    cut = tail.find("\n")
    kept = tail[cut + 1 :] if 0 <= cut < limit // 4 else tail
    return f"[... {len(text) - len(kept)} characters before this left out ...]\n{kept.strip()}"


#: The files whose change means the dependencies must be installed again.
MANIFESTS = (
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
    "requirements.txt", "requirements-dev.txt", "pyproject.toml", "setup.py", "setup.cfg",
    "Pipfile.lock", "poetry.lock", "uv.lock", "go.mod", "go.sum", "Cargo.toml", "Cargo.lock",
    "Gemfile", "Gemfile.lock", "composer.json", "composer.lock",
)  # fmt: skip
#: Where a worktree has no git folder of its own (not a story's): the setups done in it.
_SET_UP: set[tuple[str, str]] = set()
_MARKER = "ao-setup-done"


def _setup_key(worktree: Path, setup: str) -> str:
    """The setup command with the dependency files' digest: what a done setup was done for."""
    digest = hashlib.sha256(setup.encode() + b"\0")
    for name in MANIFESTS:
        path = worktree / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _admin_dir(worktree: Path) -> Path | None:
    """The worktree's own git folder (`.git/worktrees/<name>` in its clone): outside what the
    agent and the repository's code can write, and gone with the worktree."""
    dot_git = worktree / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        line = dot_git.read_text(errors="replace").strip()
        if line.startswith("gitdir:"):
            found = (worktree / line.removeprefix("gitdir:").strip()).resolve()
            return found if found.is_dir() else None
    return None


def _was_set_up(worktree: Path, key: str) -> bool:
    admin = _admin_dir(worktree)
    if admin is None:
        return (str(worktree), key) in _SET_UP
    marker = admin / _MARKER
    return marker.is_file() and marker.read_text() == key


def _mark_set_up(worktree: Path, key: str) -> None:
    admin = _admin_dir(worktree)
    if admin is None:
        _SET_UP.add((str(worktree), key))
    else:
        (admin / _MARKER).write_text(key)


async def set_up(
    sandbox: Sandbox, worktree: Path, test: TestCommand, limits: Limits
) -> TestRun | None:
    """Run the setup (network on, still no secrets) unless it already succeeded in this
    worktree with these dependency files; a failed TestRun (the setup's own) when it fails."""
    if not test.setup:
        return None
    key = await asyncio.to_thread(_setup_key, worktree, test.setup)
    if await asyncio.to_thread(_was_set_up, worktree, key):
        return None
    result = await sandbox.run(worktree, test.setup, network=True, env=QUIET_ENV, limits=limits)
    if not result.ok:
        return TestRun(
            command=f"{test.setup} (setup, before {test.command})",
            passed=False,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_s=result.duration_s,
            tail=trim(result.output),
        )
    await asyncio.to_thread(_mark_set_up, worktree, key)
    return None


async def run_tests(
    sandbox: Sandbox, worktree: Path, test: TestCommand, *, time_s: float | None = None
) -> TestRun:
    """Run the tests in the sandbox, without network (after the setup, where there is one):
    the orchestrator's verdict, not the agent's. `time_s` shortens the sandbox's own time
    limit (never lengthens it)."""
    limits = sandbox.limits
    if time_s is not None and time_s < limits.time_s:
        limits = dataclasses.replace(limits, time_s=time_s)
    failed = await set_up(sandbox, worktree, test, limits)
    if failed is not None:
        return failed
    result = await sandbox.run(worktree, test.command, env=QUIET_ENV, limits=limits)
    return TestRun(
        command=test.command,
        passed=result.ok,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration_s=result.duration_s,
        tail=trim(result.output),
    )
