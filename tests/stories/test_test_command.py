"""The repository's test command: configured, else detected; run in the real sandbox, its
output trimmed to the end a model needs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.agents.config import ConfigError, StoryLimits, load_config
from bot.stories.testing import TestCommand, detect, run_tests, trim


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "command", "source"),
    [
        ({"pyproject.toml": "[project]\nname='x'\n"}, "python3 -m pytest -q", "pyproject.toml"),
        ({"tests/test_a.py": "def test(): pass\n"}, "python3 -m pytest -q", "test_*.py"),
        ({"package.json": json.dumps({"scripts": {"test": "jest"}})}, "npm test", "package.json"),
        ({"go.mod": "module x\n"}, "go test ./...", "go.mod"),
        ({"Cargo.toml": "[package]\n"}, "cargo test", "Cargo.toml"),
        ({"Makefile": "all:\n\techo\ntest: all\n\techo ok\n"}, "make test", "Makefile"),
    ],
)
def test_the_command_is_detected_from_the_repository(tmp_path, files, command, source):
    assert detect(write(tmp_path, files), None) == TestCommand(command, source)


def test_a_configured_command_wins_and_nothing_is_guessed(tmp_path):
    placeholder = {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
    root = write(tmp_path, {"package.json": json.dumps(placeholder), "Makefile": "all:\n"})
    assert detect(root, None) is None  # npm init's placeholder is no test suite
    assert detect(root, "make check") == TestCommand("make check", "configured")


def test_the_config_sets_the_command_and_the_limits(tmp_path):
    config = ".github/orchestrator.yml"
    write(tmp_path, {config: "sandbox:\n  test: make check\ndeveloper:\n  iterations: 3\n"})
    loaded = load_config(tmp_path, {})
    assert loaded.test_command == "make check"
    assert loaded.story_limits == StoryLimits(iterations=3)
    write(tmp_path, {config: "developer:\n  iterations: 0\n  turns: 2\n"})
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path, {})
    assert "developer.iterations: 0 is less than the minimum of 1" in str(refused.value)
    assert "developer.turns: unknown key" in str(refused.value)


def test_the_output_is_trimmed_to_its_end_for_a_model():
    lines = "".join(f"\x1b[31mline {n}\x1b[0m\n" for n in range(5000)).encode()
    text = trim(lines, 1000)
    assert text.endswith("line 4999") and "\x1b" not in text
    assert text.startswith("[... ") and len(text) < 1100
    assert text.splitlines()[1].startswith("line ")  # cut at a line's start
    assert trim(b"short\n") == "short"


async def test_the_tests_run_in_the_sandbox_and_say_how_they_ended(sandbox, tmp_path):
    root = write(
        tmp_path,
        {"tests/test_a.py": "import unittest\nclass T(unittest.TestCase):\n"
         "    def test_a(self):\n        self.assertEqual(1, 2)\n"},
    )  # fmt: skip
    command = TestCommand("python3 -m unittest discover -s tests", "configured")
    failed = await run_tests(sandbox, root, command)
    assert not failed.passed and failed.exit_code == 1 and "AssertionError: 1 != 2" in failed.tail
    assert failed.summary == "FAILED (failures=1)"
    (root / "tests/test_a.py").write_text(
        (root / "tests/test_a.py").read_text().replace("1, 2", "2, 2")  # same size,
    )  # same second: the sandbox leaves no bytecode behind that could be taken for it
    assert not any(root.rglob("*.pyc"))
    passed = await run_tests(sandbox, root, command)
    assert passed.passed and passed.summary == "OK"


async def test_the_setup_runs_first_once_per_version_of_the_dependency_files(sandbox, tmp_path):
    """`sandbox.setup` installs what the tests need: run before the first test run, again only
    when a dependency file changed; a failing setup is the run's failure, with its output."""
    root = write(tmp_path, {"requirements.txt": "one\n"})
    setup = "cat requirements.txt >> .installed && echo setup ran"
    command = detect(root, "grep -q one .installed", setup)
    assert command == TestCommand("grep -q one .installed", "configured", setup)
    assert (await run_tests(sandbox, root, command)).passed
    assert (await run_tests(sandbox, root, command)).passed
    assert (root / ".installed").read_text() == "one\n"  # once for the same files
    (root / "requirements.txt").write_text("one\ntwo\n")
    assert (await run_tests(sandbox, root, command)).passed
    assert (root / ".installed").read_text() == "one\none\ntwo\n"  # again after a change

    broken = TestCommand("true", "configured", "echo cannot reach the index >&2; exit 3")
    failed = await run_tests(sandbox, root, broken)
    assert not failed.passed and failed.exit_code == 3
    assert failed.command == "echo cannot reach the index >&2; exit 3 (setup, before true)"
    assert "cannot reach the index" in failed.tail


async def test_a_worktree_made_again_at_the_same_place_is_set_up_again(sandbox, tmp_path):
    """The mark of a done setup lives in the worktree's own git folder: a story's worktree
    removed and made again (a retry) installs its dependencies again."""
    clone = write(tmp_path / "clone", {"requirements.txt": "one\n", ".gitignore": ".installed\n"})
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": os.environ["PATH"]}  # fmt: skip

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=clone, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "deps")
    worktree = tmp_path / "worktrees" / "1-1-x"
    command = detect(worktree, "grep -q one .installed", "cat requirements.txt >> .installed")
    for _ in range(2):
        git("worktree", "add", "-q", "-B", "story/1-1-x", str(worktree), "main")
        assert (await run_tests(sandbox, worktree, command)).passed
        assert (await run_tests(sandbox, worktree, command)).passed
        assert (worktree / ".installed").read_text() == "one\n"  # once in each worktree
        git("worktree", "remove", "--force", str(worktree))
