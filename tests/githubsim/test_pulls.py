"""Pull requests on the stand-in: opened, listed, edited, followed by pushes, merged by git."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.githubsim.test_git_http import manifest_with
from tests.sim_support import app_on_hello


@pytest.fixture
async def world(make_sim, app_private_key, tmp_path):
    sim = await make_sim()
    _app, repository, installation = app_on_hello(
        sim, app_private_key, manifest=manifest_with(tmp_path, "pull_request_review_thread")
    )
    await sim.push(repository, by="mona", files={"README.md": "one\ntwo\nthree\n"})
    token = sim.auth.installation_token(installation).value
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {token}", "Accept": "application/vnd.github+json"},
    ) as session:
        yield sim, repository, session


async def call(session, method, path, body=None, status=200, **kwargs):
    async with session.request(method, path, json=body, **kwargs) as answer:
        text = await answer.text()
        assert answer.status == status, text[:500]
        return await answer.json() if text and answer.content_type.endswith("json") else text


def events(sim, name="pull_request"):
    return [
        (d.payload.get("action"), d.payload) for d in sim.webhooks.deliveries if d.event == name
    ]


async def mergeable(session, number):
    """Read the pull request until GitHub has computed whether it merges (as clients do)."""
    for _ in range(100):
        pull = await call(session, "GET", f"pulls/{number}")
        if pull["mergeable"] is not None:
            return pull
        await asyncio.sleep(0.02)
    raise AssertionError("mergeable never computed")


async def test_a_pull_request_is_opened_listed_edited_and_followed(world):
    sim, repository, session = world
    await sim.push(repository, by="mona", files={"story.md": "story\n"}, branch="story-1")
    opened = await call(
        session,
        "POST",
        "pulls",
        {"title": "Story 1", "head": "story-1", "base": "main", "body": "Closes #0"},
        201,
    )
    number = opened["number"]
    assert opened["mergeable"] is None and opened["user"]["login"] == "agent-orchestrator[bot]"
    assert (opened["commits"], opened["changed_files"], opened["additions"]) == (1, 1, 1)
    assert (await mergeable(session, number))["mergeable_state"] == "clean"
    await call(session, "POST", "pulls", {"title": "again", "head": "story-1", "base": "main"}, 422)
    await call(session, "POST", "pulls", {"title": "none", "head": "main", "base": "main"}, 422)

    async def listed(**query):
        return [p["number"] for p in await call(session, "GET", "pulls", params=query)]

    assert await listed() == [number]
    assert await listed(head="octo-org:story-1") == [number]
    assert await listed(head="octo-org:other") == []
    assert await listed(base="main", state="closed") == []
    files = await call(session, "GET", f"pulls/{number}/files")
    assert [(f["filename"], f["status"]) for f in files] == [("story.md", "added")]
    commits = await call(session, "GET", f"pulls/{number}/commits")
    assert [c["commit"]["message"] for c in commits] == ["Update files"]
    issue = await call(session, "GET", f"issues/{number}")
    assert issue["pull_request"]["merged_at"] is None

    await call(session, "PATCH", f"pulls/{number}", {"title": "Story 1: the start"})
    await call(session, "POST", f"issues/{number}/labels", {"labels": ["story"]})
    new_head = await sim.push(repository, by="mona", files={"story.md": "v2\n"}, branch="story-1")
    pull = await call(session, "GET", f"pulls/{number}")
    assert pull["head"]["sha"] == new_head and pull["mergeable"] is None
    await call(session, "PATCH", f"pulls/{number}", {"state": "closed"})
    await call(session, "PATCH", f"pulls/{number}", {"state": "open"})
    await sim.settle()
    actions = [a for a, _ in events(sim)]
    assert actions == ["opened", "edited", "labeled", "synchronize", "closed", "reopened"]
    synchronize = events(sim)[3][1]
    assert synchronize["after"] == new_head and synchronize["before"] == opened["head"]["sha"]
    assert events(sim)[2][1]["label"]["name"] == "story"
    assert not [d for d in sim.webhooks.deliveries if d.event == "issues"]


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_merges_are_done_by_git(world, method):
    sim, repository, session = world
    await sim.push(repository, by="mona", files={"a.md": "a\n"}, branch="topic")
    await sim.push(repository, by="mona", files={"b.md": "b\n"}, branch="topic")
    await sim.push(repository, by="mona", files={"c.md": "c\n"})  # main moves on too
    pull = await sim.open_pull_request(repository, by="mona", head="topic", title="Topic")
    head = pull.head_sha
    await call(session, "GET", f"pulls/{pull.number}/merge", status=404)
    await call(session, "PUT", f"pulls/{pull.number}/merge", {"sha": "0" * 40}, 409)
    merged = await call(
        session, "PUT", f"pulls/{pull.number}/merge", {"merge_method": method, "sha": head}
    )
    await call(session, "GET", f"pulls/{pull.number}/merge", status=204)
    main = await sim.git.resolve(repository, "main")
    assert merged["sha"] == main and merged["merged"] is True
    parents = (await sim.git.git(repository, "log", "-1", "--format=%P", main)).split()
    tree = await sim.git.git(repository, "ls-tree", "--name-only", main)
    assert tree.split() == ["README.md", "a.md", "b.md", "c.md"]
    if method == "merge":
        assert parents[1] == head and len(parents) == 2
    elif method == "squash":
        assert len(parents) == 1
        message = await sim.git.git(repository, "log", "-1", "--format=%s", main)
        assert message.strip() == f"Topic (#{pull.number})"
    else:  # two commits replayed onto main, none of them the originals
        subjects = await sim.git.git(repository, "log", "--format=%H", "-3", main)
        assert head not in subjects and len(parents) == 1
    await sim.settle()
    closed = events(sim)[-1][1]
    assert events(sim)[-1][0] == "closed" and closed["pull_request"]["merged"] is True
    assert closed["pull_request"]["merge_commit_sha"] == main
    pushes = [p for p in events(sim, "push")]
    assert pushes[-1][1]["after"] == main
    await call(session, "PUT", f"pulls/{pull.number}/merge", {}, 405)


async def test_merges_at_once_go_onto_each_other_and_a_push_meanwhile_is_refused(world):
    """GitHub merges onto the base as it is: two merges at once both land; a base pushed to
    while a merge is made answers 405 "Base branch was modified" (the merge may be tried
    again), never a merge onto the old base."""
    sim, repository, session = world
    for name in ("one", "two", "three"):
        await sim.push(repository, by="mona", files={f"{name}.md": "x\n"}, branch=name)
    one, two, three = [
        await sim.open_pull_request(repository, by="mona", head=n, title=n)
        for n in ("one", "two", "three")
    ]
    await asyncio.gather(*(
        call(session, "PUT", f"pulls/{p.number}/merge", {"sha": p.head_sha}) for p in (one, two)
    ))  # fmt: skip
    tree = await sim.git.git(repository, "ls-tree", "--name-only", "main")
    assert tree.split() == ["README.md", "one.md", "two.md"]
    real = sim.pulls.move

    async def pushed_meanwhile(*args):
        """A push lands while the merge is made (before it moves main)."""
        await sim.push(repository, by="mona", files={"four.md": "x\n"})
        await real(*args)

    sim.pulls.move = pushed_meanwhile
    url = f"pulls/{three.number}/merge"
    refused = await call(session, "PUT", url, {"sha": three.head_sha}, 405)
    assert refused["message"] == "Base branch was modified. Review and try the merge again."
    sim.pulls.move = real
    await call(session, "PUT", url, {"sha": three.head_sha})  # tried again: it merges
    tree = await sim.git.git(repository, "ls-tree", "--name-only", "main")
    assert tree.split() == ["README.md", "four.md", "one.md", "three.md", "two.md"]


async def test_a_conflict_is_not_mergeable(world):
    sim, repository, session = world
    await sim.push(repository, by="mona", files={"README.md": "one\nTWO\nthree\n"}, branch="x")
    await sim.push(repository, by="mona", files={"README.md": "one\n2\nthree\n"})
    pull = await sim.open_pull_request(repository, by="mona", head="x")
    answer = await mergeable(session, pull.number)
    assert answer["mergeable"] is False and answer["mergeable_state"] == "dirty"
    await call(session, "PUT", f"pulls/{pull.number}/merge", {}, 405)
    await call(session, "PUT", f"pulls/{pull.number}/merge", {"merge_method": "rebase"}, 405)
    await call(session, "PUT", f"pulls/{pull.number}/update-branch", {}, 422)


async def test_drafts_become_ready_and_branches_are_updated(world):
    sim, repository, session = world
    await sim.push(repository, by="mona", files={"x.md": "x\n"}, branch="draft")
    opened = await call(
        session,
        "POST",
        "pulls",
        {"title": "WIP", "head": "draft", "base": "main", "draft": True},
        201,
    )
    assert opened["draft"] is True
    await call(session, "PUT", f"pulls/{opened['number']}/merge", {}, 405)
    sim.ready_for_review(repository, opened["number"], by="mona")
    await sim.push(repository, by="mona", files={"y.md": "y\n"})
    await call(session, "PUT", f"pulls/{opened['number']}/update-branch", {}, 202)
    head = await sim.git.resolve(repository, "draft")
    parents = (await sim.git.git(repository, "log", "-1", "--format=%P", head)).split()
    assert parents[1] == await sim.git.resolve(repository, "main")
    await sim.settle()
    assert [a for a, _ in events(sim)] == ["opened", "ready_for_review", "synchronize"]


async def test_a_protected_base_needs_an_approval_to_merge(world):
    sim, repository, session = world
    sim.protect_branch(repository, "main")
    sha = await sim.push(repository, by="mona", files={"x": "x"}, branch="feature")
    pull = await sim.open_pull_request(repository, by="mona", head="feature")
    assert (await mergeable(session, pull.number))["mergeable_state"] == "blocked"
    answer = await call(session, "PUT", f"pulls/{pull.number}/merge", {}, 405)
    assert answer["message"].startswith("At least 1 approving review is required")
    assert await sim.git.resolve(repository, "main") != sha


async def test_pull_requests_opened_at_once_each_get_their_own_number(world):
    """Twenty stories open their pull requests together: each its own number, none lost (the
    number was taken before an await and registered after it, so two opened at once shared
    one and the later replaced the earlier)."""
    sim, repository, session = world
    names = [f"story-{n}" for n in range(8)]
    for name in names:
        await sim.push(repository, by="mona", files={f"{name}.md": "x\n"}, branch=name)
    opened = await asyncio.gather(*(
        call(session, "POST", "pulls", {"title": n, "head": n, "base": "main"}, 201)
        for n in names
    ))  # fmt: skip
    numbers = [p["number"] for p in opened]
    assert len(set(numbers)) == len(names), numbers
    for pull in opened:
        again = await call(session, "GET", f"pulls/{pull['number']}")
        assert again["head"]["ref"] == pull["head"]["ref"]
