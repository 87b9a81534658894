"""`orchestrator demo`, the README's way to try the product: runs with no key and no account."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import git
import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def test_the_demo_plays_every_flow_and_says_where_to_look(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ORCHESTRATOR_", "ANTHROPIC_", "OPENAI_"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--exit", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "7 labels created by agent-orchestrator[bot]" in out
    assert "| `/ao ping` | check that the bot hears you |" in out
    assert "pong, @mona" in out
    assert "@riley, only people with write access" in out
    assert "→ 401: signature does not match" in out
    assert "GitHub's API description      0 violations" in out  # checked: the cache is there
    remote = tmp_path / "git" / "demo-org" / "todo-app.git"
    assert f"git clone {remote}" in out
    assert re.search(r"git clone http://127\.0\.0\.1:\d+/demo-org/todo-app\.git", out)
    assert "anyone reads the public repository with git → HEAD, refs/heads/main" in out
    files = git.Repo(remote).git.ls_tree("-r", "--name-only", "main").split()
    assert {"README.md", "docs/brief.md", "src/todo.py"} <= set(files)
    assert '"message":"labels created"' in (tmp_path / "orchestrator.log").read_text()
