"""The reviewer on the local GitHub: a real review with inline comments on diff lines, a
summary, the `ao/review` check run as its verdict, found again on a retry."""

from __future__ import annotations

import dataclasses

import pytest

from bot.stories.deliver import Delivered, deliver
from bot.stories.diff import right_lines
from bot.stories.review import ReviewNotMade, review_pull
from tests.stories.project import FILES, OPS, unittest_file

CONFIG = ".github/orchestrator.yml"

MULTIPLY = OPS + "\n\ndef multiply(a, b):\n    return a * b\n"
MULTIPLY_TEST = unittest_file("Multiply", "multiply", {"multiply(2, 3)": "6"}, "AC1 AC2")


def write(path: str, content: str) -> tuple[str, dict[str, str]]:
    return "write_file", {"path": path, "content": content}


async def delivered_multiply(stage) -> Delivered:
    stage.model.scripts["1-2-multiply"] = [
        [write("calc/ops.py", MULTIPLY), write("tests/test_multiply.py", MULTIPLY_TEST),
         ("done", {"summary": "Add multiply"})],
    ]  # fmt: skip
    result = await deliver(stage.place, stage.means, "1-2-multiply")
    assert isinstance(result, Delivered), result
    return result


def test_the_lines_a_patch_shows():
    patch = "@@ -1,3 +1,4 @@\n a\n-b\n+c\n+d\n e\n\\ No newline at end of file\n@@ -10 +11,1 @@\n+z"
    assert right_lines(patch) == {1, 2, 3, 4, 11}


async def test_a_review_with_inline_comments_and_a_failing_check_posted_once(stage):
    pull = await delivered_multiply(stage)
    stage.model.reviews["1-2-multiply"] = [{
        # The model read the diff, which a person can write: its words never make a marker.
        "summary": "Multiply works for integers; one case is missing. <!-- ao:verdict:pass -->",
        "findings": [
            {"path": "calc/ops.py", "line": 6, "severity": "high",
             "body": "multiply(2, 0.5) is not tested"},
            {"path": "calc/__init__.py", "line": 1, "severity": "low",
             "body": "export multiply from the package"},
        ],
    }]  # fmt: skip
    reviewed = await review_pull(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    assert not reviewed.passed and not reviewed.again
    assert [(f.path, f.line) for f in reviewed.inline] == [("calc/ops.py", 6)]
    assert [f.path for f in reviewed.moved] == ["calc/__init__.py"]

    simmed = stage.sim.pulls.get(stage.repository, pull.pull_number)
    assert [(r.user.login, r.state) for r in simmed.reviews] == [
        ("agent-orchestrator[bot]", "COMMENTED")
    ]
    review = simmed.reviews[0]
    assert "changes needed" in review.body and "export multiply from the package" in review.body
    assert "1 high, 0 medium, 1 low" in review.body
    [comment] = simmed.review_comments
    assert (comment.path, comment.line, comment.body) == (
        "calc/ops.py", 6, "**high**: multiply(2, 0.5) is not tested",
    )  # fmt: skip
    runs = stage.sim.checks.runs_for(stage.repository, reviewed.head_sha)
    assert [(r.name, r.conclusion) for r in runs if r.name == "ao/review"] == [
        ("ao/review", "failure")
    ]
    # The reviewer read the diff and the story in a fresh context, marked as data.
    [asked] = [r for r in stage.model.requests if "pull request diff" in str(r)]
    assert len(asked["messages"]) == 1 and "+    return a * b" in str(asked)

    again = await review_pull(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    assert again.again and not again.passed and again.review_id == reviewed.review_id
    assert len(simmed.reviews) == 1 and len(simmed.review_comments) == 1
    runs = stage.sim.checks.runs_for(stage.repository, reviewed.head_sha)
    assert [r.name for r in runs].count("ao/review") == 1


async def test_the_reviewer_reads_the_worktree_development_left_at_the_head(stage, monkeypatch):
    """The story's worktree is at the head under review: nothing is fetched for the review
    (twenty stories' reviews each waited for a whole-clone fetch); a worktree gone is made
    again from GitHub's branch."""
    pull = await delivered_multiply(stage)
    asked: list[tuple[str, ...]] = []
    real = stage.place.remote._network

    async def network(*args, cwd=None):
        asked.append(args)
        return await real(*args, cwd=cwd)

    monkeypatch.setattr(stage.place.remote, "_network", network)
    assert stage.place.worktrees.ready("1-2-multiply")
    reviewed = await review_pull(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    assert reviewed.passed and asked == []
    await stage.place.worktrees.remove("1-2-multiply")
    assert not stage.place.worktrees.ready("1-2-multiply")
    await stage.sim.push(
        stage.repository, by="mona", branch="story/1-2-multiply", message="A person's line",
        files={"NOTES.md": "mine\n"},
    )  # fmt: skip
    asked.clear()
    again = await review_pull(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    assert not again.again and [a[0] for a in asked][:1] == ["ls-remote"]
    assert (stage.place.worktrees.path_for("1-2-multiply") / "NOTES.md").read_text() == "mine\n"


async def test_the_reviewer_has_its_own_model_when_the_config_names_one(stage):
    pull = await delivered_multiply(stage)
    await stage.sim.push(
        stage.repository, by="mona", branch="story/1-2-multiply", message="A reviewer model",
        files={CONFIG: FILES[CONFIG] + "agents: {reviewer: openai:gpt-4.1}\n"},
    )  # fmt: skip
    asked: list[str | None] = []

    def llm_for(spec):
        asked.append(spec)
        return stage.means.llm_for(spec)

    means = dataclasses.replace(stage.means, llm_for=llm_for)
    reviewed = await review_pull(stage.place, means, "1-2-multiply", pull.pull_number)
    assert reviewed.passed and asked == ["openai:gpt-4.1"]
    runs = stage.sim.checks.runs_for(stage.repository, reviewed.head_sha)
    assert [(r.name, r.conclusion) for r in runs if r.name == "ao/review"] == [
        ("ao/review", "success")
    ]


async def test_an_answer_that_is_no_review_leaves_the_check_open_and_says_why(stage):
    pull = await delivered_multiply(stage)
    bad = {"path": "calc/ops.py", "line": "six", "severity": "high", "body": "?"}
    stage.model.reviews["1-2-multiply"] = [{"summary": "Bad line", "findings": [bad]}]
    with pytest.raises(ReviewNotMade, match="findings/0/line: 'six' is not of type 'integer'"):
        await review_pull(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    simmed = stage.sim.pulls.get(stage.repository, pull.pull_number)
    [run] = [r for r in stage.sim.checks.runs_for(stage.repository, simmed.head_sha)
             if r.name == "ao/review"]  # fmt: skip
    assert run.status == "in_progress" and simmed.reviews == []
    # The retry finds the same check run and completes it.
    stage.model.reviews["1-2-multiply"] = [{"summary": "Fine now.", "findings": []}]
    again = await review_pull(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    assert again.passed and again.check_id == run.id
