"""A review sent back to the developer on the local GitHub: a person's "changes requested"
addressed in a new commit on top of their own, each thread answered, the story back to
review through the sprint state's writer, the rounds in one edited comment."""

from __future__ import annotations

from bot.project.state_commit import StateCommitter
from bot.stories.address import (
    Addressed,
    Escalated,
    NothingToAddress,
    address,
    wanted_review,
)
from bot.stories.branch import StoryBranch
from bot.stories.review import review_mark, verdict_mark
from tests.stories.project import FILES, SPRINT_STATUS
from tests.stories.test_review import MULTIPLY, delivered_multiply

CONFIG = ".github/orchestrator.yml"
STRICT = MULTIPLY.replace(
    "    return a * b", "    if isinstance(a, str) or isinstance(b, str):\n"
    "        raise TypeError('numbers only')\n    return a * b"
)  # fmt: skip


def app_comments(repository, number):
    return [
        c for c in repository.comments.values()
        if c.issue_number == number and c.user.login == "agent-orchestrator[bot]"
    ]  # fmt: skip


async def test_a_persons_changes_requested_is_addressed_and_its_thread_answered(stage):
    pull = await delivered_multiply(stage)
    repository, sim = stage.repository, stage.sim
    await sim.push(
        repository, by="mona", message="Multiply in review",
        files={"docs/sprint-status.yaml": SPRINT_STATUS.replace("1-2-multiply: ready-for-dev",
                                                                "1-2-multiply: review")},
    )  # fmt: skip
    review = await sim.review(
        repository, pull.pull_number, by="mona", event="REQUEST_CHANGES",
        body="Close, but not yet.",
        comments=[{"path": "calc/ops.py", "line": 6, "side": "RIGHT",
                   "body": "Refuse strings: multiply('a', 3) must raise TypeError."}],
    )  # fmt: skip
    # Mona pushes to the story branch herself while the developer works: her commit is
    # kept, the App's goes on top (its push, refused as behind, fetches and replays it).
    stage.model.meanwhile.append(lambda: sim.push(
        repository, by="mona", branch="story/1-2-multiply", message="Say what calc does",
        files={"README.md": "# calc\n\nAdd and multiply.\n"},
    ))  # fmt: skip
    stage.model.scripts["1-2-multiply"] = [
        [("edit_file", {"path": "calc/ops.py", "old": MULTIPLY.split("\n\n\n")[1],
                        "new": STRICT.split("\n\n\n")[1]}),
         ("done", {"summary": "Refuse strings in multiply"})],
    ]  # fmt: skip
    state = StateCommitter(
        stage.place.remote, stage.place.identity, "docs/sprint-status.yaml", "main"
    )

    done = await address(stage.place, stage.means, "1-2-multiply", pull.pull_number, state)
    assert isinstance(done, Addressed), done
    assert done.round == 1 and done.review_id == review.id and len(done.commits) == 1
    bot = "agent-orchestrator[bot]"
    assert (await stage.subjects("story/1-2-multiply"))[-2:] == [
        "mona|Say what calc does", f"{bot}|story 1-2: refuse strings in multiply",
    ]  # fmt: skip
    assert "raise TypeError" in await stage.on_github("story/1-2-multiply", "calc/ops.py")
    # The comment reached the model as untrusted data.
    asked = [r for r in stage.model.story_requests("1-2-multiply") if "review round 1" in r]
    assert asked and "must raise TypeError" in asked[0] and "untrusted" in asked[0]

    simmed = sim.pulls.get(repository, pull.pull_number)
    [first, reply] = simmed.review_comments
    assert reply.in_reply_to == first.id and reply.user.login == bot
    assert f"Addressed in {done.commits[0][:7]} (story 1-2: refuse strings" in reply.body
    # review → in-progress → review on main, by the one writer.
    log = await sim.git.git(repository, "log", "--format=%s", "-3", "main")
    assert log.splitlines()[:2] == [
        "Story 1-2 → review [skip ci]", "Story 1-2 → in-progress [skip ci]",
    ]  # fmt: skip
    assert "1-2-multiply: review" in await stage.on_github("main", "docs/sprint-status.yaml")
    [rounds] = app_comments(repository, pull.pull_number)
    assert "round 1: mona's review addressed in 1 commit(s)" in rounds.body
    checks = sim.checks.runs_for(repository, done.head)
    assert [r.status for r in checks if r.name == "ao/review"] == ["queued"]  # reviewed next

    # A retry finds the review addressed; a second "changes requested" past review_rounds
    # (1, set on the branch) is escalated, said in the same comment.
    assert isinstance(
        await address(stage.place, stage.means, "1-2-multiply", pull.pull_number, state),
        NothingToAddress,
    )
    await sim.push(
        repository, by="mona", branch="story/1-2-multiply", message="One round",
        files={CONFIG: FILES[CONFIG] + "review_rounds: 1\n"},
    )  # fmt: skip
    await sim.review(repository, pull.pull_number, by="mona", event="REQUEST_CHANGES",
                     body="Still not right.")  # fmt: skip
    escalated = await address(stage.place, stage.means, "1-2-multiply", pull.pull_number, state)
    assert isinstance(escalated, Escalated) and escalated.rounds == 1
    [rounds] = app_comments(repository, pull.pull_number)
    assert "did not satisfy the review" in rounds.body and len(simmed.review_comments) == 2


def test_which_review_is_addressed():
    bot, head = "agent-orchestrator[bot]", "a" * 40

    def review(n, login, state, body=""):
        return {"id": n, "user": {"login": login}, "state": state, "body": body}

    failed = review(1, bot, "COMMENTED", f"{review_mark('1-1-a', head)}{verdict_mark(False)}")
    passed = review(2, bot, "COMMENTED", f"{review_mark('1-1-a', head)}{verdict_mark(True)}")
    old = review(3, bot, "COMMENTED", f"{review_mark('1-1-a', 'b' * 40)}{verdict_mark(False)}")
    mona = review(4, "mona", "CHANGES_REQUESTED")
    mona_ok = review(5, "mona", "APPROVED")
    hubot = review(6, "hubot", "CHANGES_REQUESTED")
    assert wanted_review([failed, passed], bot, "1-1-a", head, []) == failed
    assert wanted_review([passed, old], bot, "1-1-a", head, []) is None  # another head's
    assert wanted_review([failed], bot, "1-1-a", head, [1]) is None  # addressed already
    assert wanted_review([failed, mona], bot, "1-1-a", head, []) == mona  # a person's first
    assert wanted_review([mona, mona_ok], bot, "1-1-a", head, []) is None  # she approved since
    assert wanted_review([mona, hubot], bot, "1-1-a", head, [4]) == hubot


async def test_a_round_cut_short_after_its_commit_goes_on_from_it(stage):
    pull = await delivered_multiply(stage)
    await stage.sim.review(
        stage.repository, pull.pull_number, by="mona", event="REQUEST_CHANGES", body="Strings?",
        comments=[{"path": "calc/ops.py", "line": 6, "side": "RIGHT", "body": "Refuse strings."}],
    )  # fmt: skip
    # The earlier attempt committed and pushed its change, then the process died.
    place = stage.place
    branch = await StoryBranch.prepare(
        place.remote, place.worktrees, "1-2-multiply", "main", place.identity
    )
    (branch.worktree / "calc/ops.py").write_text(STRICT)
    sha = await branch.save("story 1-2: refuse strings in multiply", ["calc/ops.py"])
    asked = len(stage.model.requests)

    done = await address(stage.place, stage.means, "1-2-multiply", pull.pull_number)
    assert isinstance(done, Addressed) and done.commits == (sha,)
    assert len(stage.model.requests) == asked  # no model call: the tests decided
    reply = stage.sim.pulls.get(stage.repository, pull.pull_number).review_comments[-1]
    assert reply.in_reply_to is not None and f"Addressed in {sha[:7]}" in reply.body
