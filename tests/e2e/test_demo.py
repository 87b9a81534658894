"""`orchestrator demo`, the README's way to try the product: runs with no key and no account."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import git
import pytest

from bot.demo.edits import scripts
from bot.demo.model import DemoScriptedModel
from tests.support import ROOT

pytestmark = pytest.mark.slow


PHASES = ["create-prd", "create-architecture", "create-epics-and-stories", "sprint-planning"]


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ORCHESTRATOR_", "ANTHROPIC_", "OPENAI_"))
    }


def orchestrator() -> list[str]:
    """The command a user runs: the plain install's `orchestrator` where CI made one
    (ORCHESTRATOR_INSTALLED, by .ci/run after scripts/smoke), else this checkout's."""
    installed = os.environ.get("ORCHESTRATOR_INSTALLED")
    if installed:
        assert os.access(installed, os.X_OK), f"ORCHESTRATOR_INSTALLED={installed} is not there"
        return [installed]
    return [sys.executable, "-m", "bot"]


def demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*orchestrator(), "demo", "--exit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_plays_every_flow_and_says_where_to_look(tmp_path):
    summary = tmp_path / "summary.json"
    done = demo("--data-dir", str(tmp_path), "--summary", str(summary), env=clean_env())
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
    assert "refs/heads/ao/2-create-prd, refs/heads/ao/2-sprint-planning, refs/heads/main" in out
    files = git.Repo(remote).git.ls_tree("-r", "--name-only", "main").split()
    assert {"README.md", "docs/brief.md", "todo/cli.py", "todo/commands/add.py"} <= set(files)
    log = (tmp_path / "orchestrator.log").read_text()
    assert '"message":"labels created"' in log
    assert "run finished" in log or "HTTP Request" in log  # the workers log there, not stderr
    # Its writes are paced to GitHub's secondary limit: never refused for a minute.
    assert '"status":403' not in log

    # The plan, as @mona followed it: the requirements' run, step by step, to its pull request,
    # which waits for her approval; then the later phases, which merge themselves.
    assert "scripted local model" in out and "not a language model" in out
    assert "plan comment: Plan · 0 of 4 merged" in out
    # (progress is shown at most every 5 s: how many steps a person sees depends on the pace)
    assert "status comment: create-prd · ✅ done · step 3 of 3" in out
    assert '→ pull request #3 "create-prd: docs/prd.md" by agent-orchestrator[bot]' in out
    assert out.count("commit ") >= 3 and "create-prd: step 2 — Write the functional" in out
    # The branch holds the document, signed by the scripted model, and the decision log.
    prd = git.Repo(remote).git.show("ao/2-create-prd:docs/prd.md")
    assert "## Write the functional requirements" in prd
    assert "scripted local model (rules, not a language model)" in prd
    decisions = git.Repo(remote).git.show(
        "ao/2-create-prd:_bmad-output/ao-runs/2-create-prd/decisions.md"
    )
    assert "| create-prd:step-01-users |" in decisions and "| policy |" in decisions
    assert out.index("comments `/ao approve`") > out.index('pull request #3 "create-prd')
    assert out.index("status comment: create-architecture") > out.index("comments `/ao approve`")
    assert "plan comment: Plan · ✅ done: every phase is merged" in out
    # The architect's question went to @mona as an issue (#4); her answer shaped the document.
    asked = '→ #4 "create-architecture (#2) asks: Where does the list live?" by agent-orchestrator'
    assert asked in out and "assigned to @mona:" in out
    assert "1. [1] A plain-text file in each directory" in out
    assert "✅ Answer recorded: **[1] A plain-text file in each directory" in out
    assert "→ docs/architecture.md: As decided: [1] A plain-text file in each directory" in out
    assert "→ its decision log: step-01-decisions: 1, decided by @mona" in out
    for number, branch in zip((3, 5, 6, 7), PHASES, strict=True):
        assert f"→ #{number} ao/2-{branch} merged by agent-orchestrator[bot]" in out
    assert "→ on main: docs/architecture.md, docs/brief.md, docs/epics.md, docs/prd.md" in out
    sprint = git.Repo(remote).git.show("main:docs/sprint/sprint-status.yaml")
    assert "# Written by the demo's scripted" in sprint

    # The sprint: @mona moves story 1.1 to ready-for-dev; its first attempt fails its tests, the
    # second passes; the App reviews it, she approves, it merges; its dependants follow.
    assert "10. @mona moves #9 1-1 Add an item to ready-for-dev" in out
    assert '→ pull request #13 "story 1-1: Add an item" by agent-orchestrator[bot]' in out
    assert "story 1-1: todo add appends the text" in out
    assert "story 1-1: an added item is an open item" in out
    assert "run by the orchestrator after attempt 2: passed" in out
    assert out.count("checks on its head: ao/review success, ao/story success, ci success") == 3
    assert "on todo/commands/done.py:16: **low**: An item marked done twice" in out
    for pull, issue, title in ((13, 9, "1-1 Add an item"), (14, 10, "1-2 Mark an item done"),
                               (15, 11, "1-3 List open items")):  # fmt: skip
        assert f"@mona approves #{pull}" in out
        assert (f"→ #{pull} merged by agent-orchestrator[bot]; #{issue} {title} closed "
                "[story: done]") in out  # fmt: skip
    assert "12. the sprint is done" in out and "Progress: 3 of 3 stories done (100%)" in out
    sprint = git.Repo(remote).git.show("main:docs/sprint/sprint-status.yaml")
    for key in ("1-1-add-an-item", "1-2-mark-an-item-done", "1-3-list-open-items"):
        assert f"{key}: done" in sprint, sprint
    # The merged default branch's tests pass, as anyone who clones it runs them.
    checkout = tmp_path / "checkout"
    git.Repo.clone_from(str(remote), checkout)
    tests = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests"],
        cwd=checkout, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert tests.returncode == 0 and "Ran 6 tests" in tests.stderr, tests.stderr
    worktrees = tmp_path / "orchestrator" / "worktrees" / "demo-org" / "todo-app"
    assert not worktrees.exists() or not [p for p in worktrees.iterdir() if p.is_dir()]

    # The summary, read back from the local GitHub's API.
    found = json.loads(summary.read_text())
    people = [i for i in found["issues"] if i["user"] == "mona"]
    assert [(i["number"], i["user"], i["state"]) for i in people] == [
        (2, "mona", "open"),
        (1, "mona", "open"),
    ]
    assert all(i["pinned"] is False and i["labels"] == [] for i in people)
    # Once sprint-status.yaml is on main the App makes the sprint's story issues, each with
    # one status label, and the pinned status issue; the demo waits for them and shows them.
    made = [i for i in found["issues"] if i["user"] != "mona"]
    assert all(i["user"] == "agent-orchestrator[bot]" for i in made)
    made = sorted(made, key=lambda i: i["number"])
    assert [(i["title"], i["pinned"]) for i in made] == [
        ("create-architecture (#2) asks: Where does the list live?", False),
        ("Epic 1", False),
        ("1-1 Add an item", False),
        ("1-2 Mark an item done", False),
        ("1-3 List open items", False),
        ("Agent Orchestrator status", True),
    ]
    assert [(i["labels"], i["state"]) for i in made[2:5]] == [(["story: done"], "closed")] * 3
    assert len(made[1]["labels"]) == 1 and made[1]["labels"][0].startswith("story: ")
    assert "8. the sprint on the default branch becomes issues" in out
    assert "is pinned and kept current: Phase: implementation (sprint) · Progress: 0 of 3" in out
    question = next(i for i in made if i["labels"] == ["escalation"])
    assert question["state"] == "closed" and question["number"] == 4
    stories = [p for p in found["pulls"] if p["head"].startswith("story/")]
    assert [(p["number"], p["head"], p["merged"], p["merged_by"]) for p in stories] == [
        (15, "story/1-3-list-open-items", True, "agent-orchestrator[bot]"),
        (14, "story/1-2-mark-an-item-done", True, "agent-orchestrator[bot]"),
        (13, "story/1-1-add-an-item", True, "agent-orchestrator[bot]"),
    ]
    assert found["pulls"][-1] == {
        "number": 3, "title": "create-prd: docs/prd.md", "user": "agent-orchestrator[bot]",
        "head": "ao/2-create-prd", "base": "main", "state": "closed", "merged": True,
        "merged_by": "agent-orchestrator[bot]",
    }  # fmt: skip
    assert [(p["head"], p["merged"]) for p in found["pulls"][3:]] == [
        (f"ao/2-{branch}", True) for branch in reversed(PHASES)
    ]
    assert found["branches"][:5] == [*(f"ao/2-{b}" for b in sorted(PHASES)), "main"]
    assert [(r["workflow"], r["state"], r["issue"]) for r in found["runs"]] == [
        (branch, "done", 2) for branch in PHASES
    ]


@pytest.fixture
async def story_model(aiohttp_server) -> AsyncIterator[DemoScriptedModel]:
    """A protocol-true Anthropic server standing where api.anthropic.com would be, that writes
    the demo's stories' code as a real model would (the edits scripted, `bot/demo/edits.py`)."""
    server = DemoScriptedModel(scripts())
    server.http = await aiohttp_server(server.app())  # type: ignore[attr-defined]
    yield server
    assert server.invalid == [], "a request the Anthropic API would refuse"


async def test_the_demo_runs_the_same_story_with_the_model_llm_names(tmp_path, story_model):
    """`--llm anthropic:MODEL` with the provider's key, all the way to the merged sprint."""
    url = str(story_model.http.make_url(""))  # type: ignore[attr-defined]
    env = clean_env() | {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": url,
                         "OPENAI_API_KEY": "never-passed-on"}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *orchestrator(), "demo", "--exit", "--data-dir", str(tmp_path),
        "--llm", "anthropic:claude-haiku-4-5",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(300):
        out = (await process.communicate())[0].decode()
    assert process.returncode == 0, out
    assert "claude-haiku-4-5 (a real model, on your key)" in out
    assert "status comment: create-prd · ✅ done · step 3 of 3" in out
    assert "12. the sprint is done" in out
    models = {request["model"] for request in story_model.requests}
    assert models == {"claude-haiku-4-5"}
    remote = git.Repo(tmp_path / "git/demo-org/todo-app.git")
    assert "scripted" not in remote.git.show("ao/2-create-prd:docs/prd.md")
    assert "scripted" not in remote.git.show("main:todo/commands/add.py")  # none signs code
    # The failing test run of story 1.1's first attempt went back to the model.
    asked = [json.dumps(r) for r in story_model.requests if "attempt 2 of" in json.dumps(r)]
    assert asked and "FAIL: test_an_added_item_is_an_open_line_of_the_list" in asked[0]


@pytest.mark.parametrize(
    ("spec", "env", "said"),
    [
        ("anthropic:claude-haiku-4-5", {}, "set ANTHROPIC_API_KEY first"),
        ("gemini:pro", {}, "expected one of anthropic:MODEL, openai:MODEL"),
        ("openai-compatible:qwen", {}, "set ORCHESTRATOR_OPENAI_COMPATIBLE_URL first"),
    ],
)
def test_a_model_the_demo_cannot_use_is_explained_before_anything_starts(spec, env, said):
    from bot.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["demo", "--exit", "--llm", spec], environ=env) == 2
    assert said in out.getvalue()
