"""Stories become pull requests on the local GitHub: real git over HTTP, the real sandbox, the
Anthropic-protocol model server with scripted edits, and the product's path around them."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from bot.git.remote import git
from bot.git.worktrees import Worktrees, repository_dirs
from bot.llm.errors import ModelNotAllowed
from bot.stories.compose import Means
from bot.stories.deliver import Blocked, Delivered, deliver
from tests.stories.project import (
    FAULT,
    FILES,
    OPS,
    SPRINT_STATUS,
    TEST_COMMAND,
    ScriptedModel,
    unittest_file,
)
from tests.stories.stage import make_stage

SUBTRACT_WRONG = OPS + "\n\ndef subtract(a, b):\n    return a + b\n"
MULTIPLY = OPS + "\n\ndef multiply(a, b):\n    return a * b\n"
MULTIPLY_TEST = unittest_file("Multiply", "multiply", {"multiply(2, 3)": "6"})


async def staged(make_sim, key, graphql, tmp_path, sandbox, aiohttp_server, *, private=False):
    sim = await make_sim(graphql=graphql)
    model = ScriptedModel()
    server = await aiohttp_server(model.app())
    return await make_stage(
        sim, key, model, str(server.make_url("")), sandbox, tmp_path / "data", private=private
    )


@pytest.fixture
async def stage(make_sim, app_private_key, graphql_description, tmp_path, sandbox, aiohttp_server):
    made = await staged(
        make_sim, app_private_key, graphql_description, tmp_path, sandbox, aiohttp_server
    )
    yield made
    await made.close()
    assert made.model.invalid == []


def write(path: str, content: str) -> tuple[str, dict[str, str]]:
    return "write_file", {"path": path, "content": content}


async def test_two_stories_end_as_verified_pull_requests(stage):
    issue = stage.sim.open_issue(stage.repository, by="mona", title="Subtract two numbers")
    subtract_test = unittest_file("Subtract", "subtract", {"subtract(5, 3)": "2"})
    stage.model.scripts["1-1-subtract"] = [
        [write("calc/ops.py", SUBTRACT_WRONG), write("tests/test_subtract.py", subtract_test),
         write("docs/sprint-status.yaml", "development_status: {}\n"),
         ("done", {"summary": "Add subtract"})],
        [("edit_file", {"path": "calc/ops.py", "old": "def subtract(a, b):\n    return a + b",
                        "new": "def subtract(a, b):\n    return a - b"}),
         ("done", {"summary": "Fix the sign in subtract"})],
    ]  # fmt: skip
    stage.model.scripts["1-2-multiply"] = [
        [write("calc/ops.py", MULTIPLY),
         write("tests/test_multiply.py", MULTIPLY_TEST.replace("# AC1", "# AC1 AC2")),
         ("done", {"summary": "Add multiply"})],
    ]  # fmt: skip

    first = await deliver(stage.place, stage.means, "1-1-subtract", issue=issue.number)
    assert isinstance(first, Delivered), first
    assert [a.tests.passed for a in first.attempts if a.tests] == [False, True]
    # The failing output went back to the model in the next request, and not before.
    requests = stage.model.story_requests("1-1-subtract")
    turn_two = next(n for n, text in enumerate(requests) if "attempt 2 of 3" in text)
    assert "AssertionError: 8 != 2" in requests[turn_two]
    assert not any("AssertionError" in text for text in requests[:turn_two])
    assert first.attempts[0].dropped == ("docs/sprint-status.yaml",)

    second = await deliver(stage.place, stage.means, "1-2-multiply")
    assert isinstance(second, Delivered) and len(second.attempts) == 1

    pulls = {p["head"]["ref"]: p for p in await stage.pulls()}  # type: ignore[index]
    assert set(pulls) == {"story/1-1-subtract", "story/1-2-multiply"}
    subtract = pulls["story/1-1-subtract"]
    assert subtract["draft"] is False and subtract["title"] == "story 1-1: Subtract two numbers"
    body = str(subtract["body"])
    assert f"Story: #{issue.number}" in body and "they pass" in body
    assert (
        "| 1 | `subtract(a, b)` returns a minus b | `tests/test_subtract.py::test_subtract` |"
        in body
    )
    assert "**passed** (OK" in body and "over 2 attempt(s)" in body and "$0.0" in body
    assert "| 2 | it is exported | `tests/test_multiply.py::test_multiply` |" in str(
        pulls["story/1-2-multiply"]["body"]
    )
    # Small described commits by the App; the sprint state as on main; CI green on the head.
    bot = "agent-orchestrator[bot]"
    assert await stage.subjects("story/1-1-subtract") == [
        f"{bot}|story 1-1: add subtract", f"{bot}|story 1-1: fix the sign in subtract",
    ]  # fmt: skip
    assert await stage.on_github("story/1-1-subtract", "docs/sprint-status.yaml") == SPRINT_STATUS
    await stage.sim.settle()
    for pull in pulls.values():
        runs = stage.sim.checks.runs_for(stage.repository, pull["head"]["sha"])  # type: ignore[index]
        assert [(r.name, r.conclusion) for r in runs] == [("ci", "success")]

    # A retry finds the pull request by its head branch and never opens a second.
    again = await deliver(stage.place, stage.means, "1-2-multiply")
    assert isinstance(again, Delivered) and again.pull_number == second.pull_number
    assert len(await stage.pulls()) == 2


async def test_a_story_that_cannot_pass_is_blocked_and_a_retry_goes_on_from_its_branch(stage):
    broken = "\n\ndef divide(a, b):\n    return a * b\n"
    divide_test = unittest_file("Divide", "divide", {"divide(6, 3)": "2"})
    stage.model.scripts["1-3-divide"] = [
        [write("calc/ops.py", OPS + broken), write("tests/test_divide.py", divide_test),
         write(".github/workflows/ci.yml", "on: push\n"), ("done", {"summary": "Add divide"})],
        [write("calc/ops.py", OPS + broken.replace("a * b", "a * b + 0")),
         ("done", {"summary": "Try again"})],
    ]  # fmt: skip
    blocked = await deliver(stage.place, stage.means, "1-3-divide")
    assert isinstance(blocked, Blocked) and blocked.limit == "iterations"
    assert len(blocked.attempts) == 3 and not any(a.tests.passed for a in blocked.attempts)
    assert "AssertionError: 18 != 2" in blocked.failing
    text = blocked.text()
    assert "is blocked: the tests still fail after 3 attempt(s)" in text
    assert "attempt 1: Add divide — changed `calc/ops.py`, `tests/test_divide.py`" in text
    assert "/tree/story/1-3-divide" in text and blocked.pull_url in text
    # The branch is on GitHub as it stands, as a draft; the CI workflow was never changed.
    assert "a * b + 0" in await stage.on_github("story/1-3-divide", "calc/ops.py")
    assert (
        await stage.on_github("story/1-3-divide", ".github/workflows/ci.yml")
        == FILES[".github/workflows/ci.yml"]
    )
    [pull] = await stage.pulls()
    assert pull["draft"] is True and "Blocked" in str(pull["body"])
    before = await stage.subjects("story/1-3-divide")

    # Another machine, its data dir lost: the retry starts from GitHub's branch alone.
    shutil.rmtree(stage.data_dir)
    await stage.place.remote.sync()
    clone, root = repository_dirs(stage.data_dir, stage.repository.full_name)
    place = dataclasses.replace(stage.place, worktrees=Worktrees(clone, root))
    stage.model.scripts["1-3-divide"] = [
        [write("calc/ops.py", OPS + broken.replace("a * b", "a / b")),
         ("done", {"summary": "Divide, not multiply"})],
    ]  # fmt: skip
    # Meanwhile a person marked the story in progress on its branch: the sprint state has one
    # writer, on main, so the story branch puts it back.
    await stage.sim.push(
        stage.repository, by="mona", branch="story/1-3-divide", message="In progress",
        files={"docs/sprint-status.yaml": "development_status:\n  1-3-divide: in-progress\n"},
    )  # fmt: skip
    retried = await deliver(place, stage.means, "1-3-divide")
    assert isinstance(retried, Delivered), retried
    after = await stage.subjects("story/1-3-divide")
    assert after[: len(before)] == before
    assert after[len(before) :] == [
        "mona|In progress",
        "agent-orchestrator[bot]|story 1-3: divide, not multiply",
        "agent-orchestrator[bot]|story 1-3: keep docs/sprint-status.yaml as on the default branch",
    ]
    assert await stage.on_github("story/1-3-divide", "docs/sprint-status.yaml") == SPRINT_STATUS
    [pull] = await stage.pulls()
    assert pull["draft"] is False and pull["number"] == retried.pull_number


async def test_where_drafts_are_refused_the_title_says_in_progress_until_verified(
    make_sim, app_private_key, graphql_description, tmp_path, sandbox, aiohttp_server
):
    made = await staged(
        make_sim, app_private_key, graphql_description, tmp_path, sandbox, aiohttp_server,
        private=True,
    )  # fmt: skip
    try:
        made.model.scripts["1-2-multiply"] = [
            [write("calc/ops.py", MULTIPLY),
             write("tests/test_multiply.py", MULTIPLY_TEST.replace("6)", "7)")),
             ("done", {"summary": "Add multiply"})],
            [write("tests/test_multiply.py", MULTIPLY_TEST),
             ("done", {"summary": "Expect six"})],
        ]  # fmt: skip
        result = await deliver(made.place, made.means, "1-2-multiply")
        assert isinstance(result, Delivered)
        assert [a.tests.passed for a in result.attempts if a.tests] == [False, True]
        [pull] = await made.pulls()
        assert pull["draft"] is False and pull["title"] == "story 1-2: Multiply two numbers"
        opened = next(
            d for d in made.sim.webhooks.deliveries
            if d.event == "pull_request" and d.payload["action"] == "opened"
        )  # fmt: skip
        assert (
            opened.payload["pull_request"]["title"]
            == "[in progress] story 1-2: Multiply two numbers"
        )
    finally:
        await made.close()


async def test_a_story_stops_at_its_token_limit(stage):
    limited = f"sandbox:\n  test: {TEST_COMMAND}\ndeveloper:\n  tokens: 1000\n"
    await stage.sim.push(stage.repository, by="mona", message="Fewer tokens",
                         files={".github/orchestrator.yml": limited})  # fmt: skip
    stage.model.scripts["1-2-multiply"] = [
        [write("calc/ops.py", MULTIPLY), write("tests/test_multiply.py", MULTIPLY_TEST.replace(
            "6)", "7)")), ("done", {"summary": "Add multiply"})],
    ]  # fmt: skip
    blocked = await deliver(stage.place, stage.means, "1-2-multiply")
    assert isinstance(blocked, Blocked) and blocked.limit == "tokens", blocked
    assert len(blocked.attempts) == 1 and blocked.tokens >= 1000
    assert "tokens spent (limit 1000)" in blocked.text()
    assert "7 != 6" in blocked.failing or "6 != 7" in blocked.failing


async def test_a_turn_past_the_time_limit_or_a_refused_model_keeps_what_was_written(stage):
    quick = f"sandbox:\n  test: {TEST_COMMAND}\ndeveloper:\n  minutes: 0.02\n"  # 1.2 s
    await stage.sim.push(stage.repository, by="mona", message="Quick",
                         files={".github/orchestrator.yml": quick})  # fmt: skip
    stage.model.scripts["1-2-multiply"] = [
        [
            write("calc/ops.py", MULTIPLY),
            write("tests/test_multiply.py", MULTIPLY_TEST.replace("6)", "7)")),
        ]
        + [("read_file", {"path": "README.md"})] * 20,
    ]
    stage.model.delay = 0.2
    timed_out = await deliver(stage.place, stage.means, "1-2-multiply")
    assert isinstance(timed_out, Blocked) and timed_out.limit == "time", timed_out
    assert timed_out.attempts[0].stopped == "time"
    assert timed_out.attempts[0].changed == ("calc/ops.py", "tests/test_multiply.py")
    assert await stage.on_github("story/1-2-multiply", "calc/ops.py") == MULTIPLY
    assert "limit was reached mid-turn" in timed_out.text()

    stage.model.delay = 0.0
    stage.model.scripts["1-1-subtract"] = [
        [write("calc/ops.py", SUBTRACT_WRONG), FAULT],
    ]
    refused = await deliver(stage.place, stage.means, "1-1-subtract")
    assert isinstance(refused, Blocked) and refused.limit == "model", refused
    assert "the model could not go on" in refused.reason and "(400)" in refused.reason
    assert await stage.on_github("story/1-1-subtract", "calc/ops.py") == SUBTRACT_WRONG
    assert refused.attempts[0].tests is not None  # what it wrote was tested all the same


async def test_a_model_the_operator_does_not_allow_blocks_the_story_before_any_turn(stage):
    def refuse(spec: str | None) -> None:
        raise ModelNotAllowed("anthropic:claude-opus-4 is not among the models the operator allows")

    blocked = await deliver(stage.place, Means(refuse, stage.means.sandbox), "1-2-multiply")
    assert isinstance(blocked, Blocked) and blocked.limit == "model" and not blocked.attempts
    assert "not among the models the operator allows" in blocked.reason
    assert "story/1-2-multiply" in await stage.sim.git.git(stage.repository, "branch", "--list")


async def test_a_branch_github_refuses_ends_blocked_with_the_commits_kept(stage):
    stage.sim.protect_branch(stage.repository, "story/1-2-multiply")  # no direct pushes
    stage.model.scripts["1-2-multiply"] = [
        [write("calc/ops.py", MULTIPLY), ("done", {"summary": "Add multiply"})],
    ]
    blocked = await deliver(stage.place, stage.means, "1-2-multiply")
    assert isinstance(blocked, Blocked) and blocked.limit == "crash" and not blocked.pushed
    assert blocked.reason.startswith("GitFailed: git push")
    assert "GitHub refused branch `story/1-2-multiply`" in blocked.text()
    worktree = stage.place.worktrees.path_for("1-2-multiply")
    log = await git("log", "-1", "--format=%s", cwd=worktree)
    assert log.strip() == "story 1-2: add multiply"  # committed, not thrown away
