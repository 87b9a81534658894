"""Merging story pull requests on the local GitHub: after a person's approval with CI green,
a refusal (405) said once, a branch brought up to date with update-branch, a conflict handed
back; on merge the story done, its dependants ready, its worktree gone."""

from __future__ import annotations

import dataclasses

from bot.project.state_commit import StateCommitter
from bot.stories.conflict import Resolved, resolve_conflict
from bot.stories.deliver import Delivered, deliver
from bot.stories.merge import (
    Conflicted,
    Merged,
    MergeNow,
    PullFacts,
    UpdateFirst,
    Wait,
    decide,
    merge_story,
)
from bot.stories.review import review_pull
from githubsim.merges import NotMergeable
from tests.stories.project import FILES, OPS, SPRINT_STATUS
from tests.stories.test_address import app_comments
from tests.stories.test_review import delivered_multiply

KEY = "1-2-multiply"
FACTS = PullFacts(
    state="open", merged=False, draft=False, mergeable=True, behind_on_shared_files=False,
    approved_by=(), changes_requested_by=(), review_passed=True, pending=(), failing=(),
)  # fmt: skip


def test_the_decision():
    def said(**changed):
        return decide(dataclasses.replace(FACTS, **changed), auto_merge=False, method="m")

    assert said() == Wait("waiting for a person's approving review")
    assert said(approved_by=("mona",)) == MergeNow("m")
    assert said(approved_by=("mona",), pending=("ci",)) == Wait("the repository's checks run: ci")
    assert said(approved_by=("mona",), failing=("ci",)) == Wait("the repository's checks fail: ci")
    assert said(approved_by=("mona",), changes_requested_by=("hubot",)) == Wait(
        "changes are requested by hubot"
    )
    assert said(approved_by=("mona",), behind_on_shared_files=True) == UpdateFirst()
    assert said(mergeable=False) == UpdateFirst()  # GitHub says whether it conflicts
    # Not computed yet: the merge itself is where GitHub decides.
    assert said(approved_by=("mona",), mergeable=None) == MergeNow("m")
    assert said(draft=True).reason.startswith("the pull request is a draft")
    assert decide(FACTS, auto_merge=True, method="rebase") == MergeNow("rebase")
    unreviewed = dataclasses.replace(FACTS, review_passed=False)
    assert decide(unreviewed, auto_merge=True, method="merge") == Wait(
        "ao/review has not passed on the head commit"
    )


def committer(stage):
    place = stage.place
    return StateCommitter(place.remote, place.identity, "docs/sprint-status.yaml", "main")


async def test_merged_after_a_persons_approval_with_ci_green_and_dependants_ready(stage):
    await stage.sim.push(
        stage.repository, by="mona", message="Divide after multiply",
        files={"docs/sprint-status.yaml": SPRINT_STATUS + "  1-3-divide: backlog\n",
               "docs/stories/1-3-divide.md": FILES["docs/stories/1-3-divide.md"]
               + "\nDepends on: 1-2\n"},
    )  # fmt: skip
    pull = await delivered_multiply(stage)
    issue = stage.sim.open_issue(stage.repository, by="mona", title="Multiply two numbers")
    await stage.sim.settle()
    waiting = await merge_story(stage.place, KEY, pull.pull_number, state=committer(stage))
    assert waiting == Wait("waiting for a person's approving review")
    await stage.sim.review(stage.repository, pull.pull_number, by="mona", event="APPROVE")

    merged = await merge_story(
        stage.place, KEY, pull.pull_number, method="squash", state=committer(stage),
        issue=issue.number,
    )  # fmt: skip
    assert isinstance(merged, Merged) and merged.ready == ("1-3-divide",)
    simmed = stage.sim.pulls.get(stage.repository, pull.pull_number)
    assert simmed.merged_at is not None and simmed.merge_commit_sha == merged.sha
    status = await stage.on_github("main", "docs/sprint-status.yaml")
    assert "1-2-multiply: done" in status and "1-3-divide: ready-for-dev" in status
    assert "def multiply" in await stage.on_github("main", "calc/ops.py")
    assert not stage.place.worktrees.path_for(KEY).exists()
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    # Again (a retry after a crash): the same result, nothing more written.
    again = await merge_story(stage.place, KEY, pull.pull_number, state=committer(stage))
    assert isinstance(again, Merged) and again.sha == merged.sha


async def test_a_refused_merge_is_said_once_and_waits(stage):
    pull = await delivered_multiply(stage)
    await stage.sim.settle()
    stage.sim.protect_branch(stage.repository, "main", required_approving_review_count=2)
    await stage.sim.review(stage.repository, pull.pull_number, by="mona", event="APPROVE")
    for _ in range(2):
        refused = await merge_story(stage.place, KEY, pull.pull_number)
        assert (
            isinstance(refused, Wait) and "GitHub refuses the merge: At least 2" in refused.reason
        )
    [comment] = app_comments(stage.repository, pull.pull_number)
    assert "approving reviews are required" in comment.body
    assert stage.sim.pulls.get(stage.repository, pull.pull_number).merged_at is None
    # A second approval: merged, and the same comment says so.
    stage.sim.grant(stage.repository, "hubot", "write")
    await stage.sim.review(stage.repository, pull.pull_number, by="hubot", event="APPROVE")
    assert isinstance(await merge_story(stage.place, KEY, pull.pull_number), Merged)
    [comment] = app_comments(stage.repository, pull.pull_number)
    assert "is merged" in comment.body


async def test_a_base_modified_meanwhile_is_merged_again_at_once_and_said_only_if_it_lasts(stage):
    """GitHub's 405 "Base branch was modified" (another story's merge landed while this one
    merged) is decided again at once: merged, no comment; said (once) only if it lasts."""
    pull = await delivered_multiply(stage)
    await stage.sim.settle()
    await stage.sim.review(stage.repository, pull.pull_number, by="mona", event="APPROVE")
    real, pushes = stage.sim.pulls.move, []

    async def pushed_meanwhile(*args):
        """Mona pushes to main while GitHub makes the merge (before it moves main)."""
        if len(pushes) < pushes_wanted[0]:
            pushes.append(len(pushes))
            await stage.sim.push(stage.repository, by="mona", files={f"n{len(pushes)}.md": "n\n"})
        await real(*args)

    stage.sim.pulls.move = pushed_meanwhile
    pushes_wanted = [9]  # more often than it looks again: said, and it waits
    waiting = await merge_story(stage.place, KEY, pull.pull_number)
    assert isinstance(waiting, Wait) and "Base branch was modified" in waiting.reason
    [comment] = app_comments(stage.repository, pull.pull_number)
    assert "Base branch was modified" in comment.body
    assert len(pushes) == 4  # looked at again three times before it was said
    pushes.clear()
    pushes_wanted[0] = 1  # once: merged on the next look, and the comment says it is merged
    assert isinstance(await merge_story(stage.place, KEY, pull.pull_number), Merged)
    [comment] = app_comments(stage.repository, pull.pull_number)
    assert "is merged" in comment.body
    assert "n1.md" in await stage.sim.git.git(stage.repository, "ls-tree", "--name-only", "main")


async def test_auto_merge_brings_a_branch_up_to_date_and_hands_back_a_conflict(stage):
    pull = await delivered_multiply(stage)
    # A second story, from the same main, adds its function where multiply's goes.
    stage.model.scripts["1-1-subtract"] = [[
        ("write_file", {"path": "calc/ops.py", "content": OPS + "\n\ndef subtract(a, b):\n"
                        "    return a - b\n"}),
        ("done", {"summary": "Add subtract"}),
    ]]  # fmt: skip
    subtract = await deliver(stage.place, stage.means, "1-1-subtract")
    assert isinstance(subtract, Delivered), subtract
    reviewed = await review_pull(stage.place, stage.means, KEY, pull.pull_number)
    assert reviewed.passed
    # Main changes calc/ops.py too, apart from the story's lines: update-branch, not a merge.
    docstring = '"""Arithmetic."""\n\n\n'
    await stage.sim.push(
        stage.repository, by="mona", message="Say what ops is",
        files={"calc/ops.py": docstring + OPS},
    )  # fmt: skip
    await stage.sim.settle()
    options = {"auto_merge": True, "method": "squash"}
    updated = await merge_story(stage.place, KEY, pull.pull_number, **options)
    assert updated == Wait("brought up to date with main: the checks run again")
    head = stage.sim.pulls.get(stage.repository, pull.pull_number).head_sha
    assert head != reviewed.head_sha
    assert (await stage.subjects("story/1-2-multiply"))[-1].endswith(
        "|Merge branch 'main' into story/1-2-multiply"
    )
    await stage.sim.settle()
    merged = await merge_story(stage.place, KEY, pull.pull_number, **options)
    assert isinstance(merged, Merged), merged
    ops = await stage.on_github("main", "calc/ops.py")
    assert ops.startswith(docstring) and "def multiply" in ops

    # The second story's lines meet multiply's on main: a conflict, handed back with its files.
    conflicted = await merge_story(stage.place, "1-1-subtract", subtract.pull_number, **options)
    assert conflicted == Conflicted("1-1-subtract", ("calc/ops.py",))

    # The developer resolves it: the default branch merged in on the story's worktree, the
    # conflicted file rewritten without markers, tested, pushed on top (never forced).
    before = stage.sim.pulls.get(stage.repository, subtract.pull_number).head_sha
    both = ops + "\n\ndef subtract(a, b):\n    return a - b\n"
    stage.model.scripts["1-1-subtract"] = [
        [("read_file", {"path": "calc/ops.py"}), ("done", {"summary": "Half done"})],
        [("write_file", {"path": "calc/ops.py", "content": both}),
         ("done", {"summary": "Keep multiply and subtract"})],
    ]  # fmt: skip
    resolved = await resolve_conflict(stage.place, stage.means, "1-1-subtract")
    assert isinstance(resolved, Resolved) and resolved.files == ("calc/ops.py",), resolved
    # The first turn read the markers and left them: nothing committed, its tests failed.
    asked = stage.model.story_requests("1-1-subtract")
    assert any("<<<<<<< HEAD" in r for r in asked) and any("Say what ops is" in r for r in asked)
    assert await stage.on_github("story/1-1-subtract", "calc/ops.py") == both
    log = await stage.sim.git.git(
        stage.repository, "log", "--format=%an|%s|%P", "-1", "story/1-1-subtract"
    )
    author, subject, parents = log.strip().split("|")
    assert (
        author == "agent-orchestrator[bot]" and subject == "story 1-1: keep multiply and subtract"
    )
    assert parents.split()[0] == before  # on top of the branch as it was
    await stage.sim.settle()
    await review_pull(stage.place, stage.means, "1-1-subtract", subtract.pull_number)
    merged = await merge_story(stage.place, "1-1-subtract", subtract.pull_number, **options)
    assert isinstance(merged, Merged), merged
    assert await stage.on_github("main", "calc/ops.py") == both


async def test_a_conflict_the_merge_itself_finds_is_waited_out_quietly(stage):
    """Mergeability not computed yet holds nothing up (GitHub answers null after each push to
    the base); where the merge itself finds a conflict (a push to the base just before it:
    GitHub's 405), the pull request is looked at again once GitHub has said so, and the
    conflict handed back without a word of refusal on the pull request; while GitHub has
    not said, the story waits, quietly."""
    pull = await delivered_multiply(stage)
    await stage.sim.settle()
    await stage.sim.review(stage.repository, pull.pull_number, by="mona", event="APPROVE")
    ops = await stage.on_github("main", "calc/ops.py")
    pulls = stage.sim.pulls
    real_merge, real_compute = pulls.merge, pulls.compute_mergeable

    async def not_yet(repository, pr):  # GitHub still computing
        pr.mergeable = None
        return None

    async def pushed_first(*args, **kwargs):
        """Mona's change where multiply goes lands on main just before the merge."""
        await stage.sim.push(
            stage.repository, by="mona", message="Power where multiply goes",
            files={"calc/ops.py": ops + "\n\ndef power(a, b):\n    return a ** b\n"},
        )  # fmt: skip
        pulls.get(stage.repository, pull.pull_number).mergeable = None
        return await real_merge(*args, **kwargs)

    async def unknown(*args, **kwargs):  # GitHub's merge refuses; the pull request says null
        raise NotMergeable("Pull Request is not mergeable")

    pulls.compute_mergeable, pulls.merge = not_yet, unknown
    pulls.get(stage.repository, pull.pull_number).mergeable = None
    try:
        waiting = await merge_story(stage.place, KEY, pull.pull_number)
        assert waiting == Wait(
            "GitHub found the branch not mergeable: its mergeability decides next"
        )
        pulls.merge = pushed_first
        conflicted = await merge_story(stage.place, KEY, pull.pull_number)
    finally:
        pulls.compute_mergeable, pulls.merge = real_compute, real_merge
    assert conflicted == Conflicted(KEY, ("calc/ops.py",))
    assert app_comments(stage.repository, pull.pull_number) == []
    assert pulls.get(stage.repository, pull.pull_number).merged_at is None
    await stage.sim.settle()
    assert await merge_story(stage.place, KEY, pull.pull_number) == conflicted
