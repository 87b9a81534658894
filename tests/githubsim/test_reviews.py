"""Reviews: verdicts, the author's own approval refused, inline comments, threads, webhooks."""

from __future__ import annotations

import aiohttp
import pytest

from githubsim.reviews import diff_hunk
from tests.githubsim.test_pulls import call, events, mergeable
from tests.githubsim.test_pulls import world as pulls_world

world = pulls_world


@pytest.fixture
async def pull(world):
    sim, repository, session = world
    await sim.push(
        repository, by="mona", files={"README.md": "one\n2\nthree\nfour\n"}, branch="story"
    )
    opened = await call(
        session, "POST", "pulls", {"title": "Story", "head": "story", "base": "main"}, 201
    )
    return opened["number"]


def person(sim, login):
    return aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {sim.user_token(login)}"},
    )


async def test_the_author_cannot_approve_or_request_changes(world, pull):
    _sim, _repository, session = world  # the App opened the pull request
    for event in ("APPROVE", "REQUEST_CHANGES"):
        refused = await call(
            session, "POST", f"pulls/{pull}/reviews", {"event": event, "body": "me"}, 422
        )
        assert refused["errors"][0].startswith("Review Can not")
    commented = await call(
        session, "POST", f"pulls/{pull}/reviews", {"event": "COMMENT", "body": "notes"}
    )
    assert commented["state"] == "COMMENTED"


async def test_reviews_with_inline_comments_threads_and_replies(world, pull):
    sim, repository, session = world
    sim.grant(repository, "riley", "write")
    async with person(sim, "riley") as riley:
        review = await call(
            riley,
            "POST",
            f"pulls/{pull}/reviews",
            {
                "event": "REQUEST_CHANGES",
                "body": "Please fix",
                "comments": [{"path": "README.md", "line": 2, "body": "why 2?"}],
            },
        )
        assert review["state"] == "CHANGES_REQUESTED"
        off_diff = {"path": "README.md", "line": 1, "body": "x", "commit_id": "x"}
        await call(riley, "POST", f"pulls/{pull}/comments", off_diff, 422)
    comments = await call(session, "GET", f"pulls/{pull}/comments")
    assert comments[0]["diff_hunk"].endswith("+2") and comments[0]["line"] == 2
    reply = await call(
        session,
        "POST",
        f"pulls/{pull}/comments/{comments[0]['id']}/replies",
        {"body": "fixed"},
        201,
    )
    assert reply["in_reply_to_id"] == comments[0]["id"]
    sim.resolve_thread(repository, pull, comments[0]["id"], by="riley")
    await sim.review(repository, pull, by="riley", event="APPROVE")
    listed = await call(session, "GET", f"pulls/{pull}/reviews")
    assert [r["state"] for r in listed] == ["CHANGES_REQUESTED", "COMMENTED", "APPROVED"]
    await sim.settle()
    names = [
        (d.event, d.payload.get("action"))
        for d in sim.webhooks.deliveries
        if d.event.startswith("pull_request_review")
    ]
    assert names == [
        ("pull_request_review", "submitted"),
        ("pull_request_review_comment", "created"),
        ("pull_request_review_comment", "created"),
        ("pull_request_review_thread", "resolved"),
        ("pull_request_review", "submitted"),
    ]
    submitted = next(d for d in sim.webhooks.deliveries if d.event == "pull_request_review")
    assert submitted.payload["review"]["state"] == "changes_requested"


async def test_an_approval_lets_a_protected_branch_merge(world, pull):
    sim, repository, session = world
    sim.protect_branch(repository, "main")
    await call(session, "PUT", f"pulls/{pull}/merge", {}, 405)
    sim.grant(repository, "riley", "write")
    await sim.review(repository, pull, by="riley", event="APPROVE")
    assert (await mergeable(session, pull))["mergeable_state"] == "clean"
    merged = await call(session, "PUT", f"pulls/{pull}/merge", {"merge_method": "squash"})
    assert merged["sha"] == await sim.git.resolve(repository, "main")
    await sim.settle()
    assert events(sim)[-1][1]["pull_request"]["merged"] is True


def test_a_diff_hunk_ends_at_the_commented_line():
    patch = "@@ -1,3 +1,3 @@\n one\n-two\n+2\n three"
    assert diff_hunk(patch, 2, "RIGHT") == "@@ -1,3 +1,3 @@\n one\n-two\n+2"
    assert diff_hunk(patch, 2, "LEFT") == "@@ -1,3 +1,3 @@\n one\n-two"
    assert diff_hunk(patch, 9, "RIGHT") is None
