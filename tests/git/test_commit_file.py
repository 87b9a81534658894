"""Files read from a commit of a bare clone without a worktree, many in one git process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.git.commit_file import read_file, read_files

FILES = {
    "docs/stories/1-1 two words.md": b"# Story 1.1\n",
    "empty.txt": b"",
    "bin.dat": bytes(range(256)) + b"\n\n1234 blob 5\n",
    "docs/sprint-status.yaml": b"development_status:\n  1-1-a: done\n",
}


def _commit(tmp_path: Path) -> tuple[Path, str]:
    work = tmp_path / "work"
    for name, content in FILES.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(content)
    run = lambda *a: subprocess.run(  # noqa: E731
        ["git", *a], cwd=work, check=True, capture_output=True, text=True
    ).stdout.strip()
    run("init", "-q")
    run("add", "-A")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "files")
    return work / ".git", run("rev-parse", "HEAD")


async def test_files_are_read_byte_for_byte_and_what_is_not_a_file_is_none(tmp_path):
    clone, commit = _commit(tmp_path)
    asked = [*FILES, "missing.md", "docs", "docs/stories", "", "a\nb", "x blob 3"]
    found = await read_files(clone, commit, asked)
    assert list(found) == asked
    for name, content in FILES.items():
        assert found[name] == content
    assert all(found[n] is None for n in asked[len(FILES) :])
    assert await read_file(clone, commit, "bin.dat") == FILES["bin.dat"]
    assert await read_file(clone, commit, "docs") is None
    assert await read_files(clone, "0" * 40, ["empty.txt"]) == {"empty.txt": None}
