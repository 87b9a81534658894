"""Refs, branches, commits, compare and contents over REST, answered from the real git."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from tests.sim_support import app_on_hello


@pytest.fixture
async def world(make_sim, app_private_key):
    sim = await make_sim()
    _app, repository, installation = app_on_hello(sim, app_private_key)
    first = await sim.push(
        repository, by="mona", files={"README.md": "hello\n", "docs/a.md": "a\n"}
    )
    token = sim.auth.installation_token(installation).value
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {token}", "Accept": "application/vnd.github+json"},
    ) as session:
        yield sim, repository, session, first


async def call(session, method, path, body=None, status=200, **kwargs):
    async with session.request(method, path, json=body, **kwargs) as answer:
        text = await answer.text()
        assert answer.status == status, text[:500]
        return await answer.json() if text and answer.content_type.endswith("json") else text


async def test_refs_are_created_moved_listed_and_deleted(world):
    sim, repository, session, first = world
    second = await sim.push(repository, by="mona", files={"b": "b\n"}, branch="second")
    ref = await call(session, "POST", "git/refs", {"ref": "refs/heads/test", "sha": second}, 201)
    assert ref["object"]["sha"] == second
    await call(session, "PATCH", "git/refs/heads/test", {"sha": first}, 422)  # not a fast forward
    moved = await call(session, "PATCH", "git/refs/heads/test", {"sha": first, "force": True})
    assert moved["object"]["sha"] == first
    got = await call(session, "GET", "git/ref/heads/test")
    assert got["ref"] == "refs/heads/test"
    listed = await call(session, "GET", "git/matching-refs/heads/")
    assert [r["ref"] for r in listed] == ["refs/heads/main", "refs/heads/second", "refs/heads/test"]
    await call(session, "DELETE", "git/refs/heads/test", status=204)
    await call(session, "GET", "git/ref/heads/test", status=404)
    await call(session, "POST", "git/refs", {"ref": "refs/heads/x", "sha": "f" * 40}, 422)
    await sim.settle()
    pushes = [d.payload for d in sim.webhooks.deliveries if d.event == "push"]
    assert [(p["ref"], p["created"], p["deleted"], p["forced"]) for p in pushes[-3:]] == [
        ("refs/heads/test", True, False, False),
        ("refs/heads/test", False, False, True),
        ("refs/heads/test", False, True, False),
    ]


async def test_contents_are_read_created_updated_and_deleted_as_commits(world):
    sim, repository, session, first = world
    listing = await call(session, "GET", "contents/")
    assert [(e["name"], e["type"]) for e in listing] == [("README.md", "file"), ("docs", "dir")]
    readme = await call(session, "GET", "contents/README.md")
    assert base64.b64decode(readme["content"]) == b"hello\n"
    raw = await call(
        session, "GET", "contents/README.md", headers={"Accept": "application/vnd.github.raw"}
    )
    assert raw == "hello\n"
    content = base64.b64encode(b"new\n").decode()
    created = await call(
        session, "PUT", "contents/docs/new.md", {"message": "Add", "content": content}, 201
    )
    assert created["commit"]["parents"][0]["sha"] == first
    assert created["commit"]["author"]["name"] == "agent-orchestrator[bot]"
    # updating needs the blob's sha, and the right one
    update = {"message": "Edit", "content": base64.b64encode(b"v2\n").decode()}
    await call(session, "PUT", "contents/docs/new.md", update, 422)
    await call(session, "PUT", "contents/docs/new.md", {**update, "sha": "0" * 40}, 409)
    sha = created["content"]["sha"]
    edited = await call(session, "PUT", "contents/docs/new.md", {**update, "sha": sha}, 200)
    assert (
        await sim.git.git(repository, "show", "main:docs/new.md") == "v2\n"
    )  # a real commit on main
    gone = await call(
        session,
        "DELETE",
        "contents/docs/new.md",
        {"message": "Remove", "sha": edited["content"]["sha"]},
    )
    assert gone["content"] is None
    await call(session, "GET", "contents/docs/new.md", status=404)
    await sim.settle()
    push = [d.payload for d in sim.webhooks.deliveries if d.event == "push"][-1]
    assert push["head_commit"]["removed"] == ["docs/new.md"]


async def test_branches_commits_and_compare(world):
    sim, repository, session, first = world
    head = await sim.push(repository, by="mona", files={"README.md": "changed\n"}, branch="topic")
    sim.protect_branch(repository, "main")
    branches = await call(session, "GET", "branches")
    assert [(b["name"], b["protected"]) for b in branches] == [("main", True), ("topic", False)]
    topic = await call(session, "GET", "branches/topic")
    assert topic["commit"]["sha"] == head
    commit = await call(session, "GET", f"commits/{head}")
    assert commit["files"][0]["filename"] == "README.md"
    assert commit["author"]["login"] == "mona"
    commits = await call(session, "GET", "commits", params={"sha": "topic"})
    assert [c["sha"] for c in commits] == [head, first]
    compared = await call(session, "GET", "compare/main...topic")
    assert (compared["status"], compared["ahead_by"], compared["behind_by"]) == ("ahead", 1, 0)
    assert compared["files"][0]["patch"].startswith("@@")
    git_commit = await call(session, "GET", f"git/commits/{head}")
    assert git_commit["message"] == "Update files"
    # a protected branch cannot be moved by the API either
    content = base64.b64encode(b"x").decode()
    await call(session, "PUT", "contents/x", {"message": "x", "content": content}, 409)


async def test_reads_of_fixed_objects_are_answered_from_memory_and_refs_never(world, monkeypatch):
    """The stand-in asks git once for what only the objects decide (a commit shown by its
    id, a diff of two ids); what a ref names is asked every time (it moves)."""
    import githubsim.git_store as git_store

    sim, repository = world[0], world[1]
    await sim.push(repository, by="mona", files={"a.md": "a\n"}, message="A")
    first = (await sim.git.git(repository, "rev-parse", "main")).strip()
    await sim.push(repository, by="mona", files={"a.md": "b\n"}, message="B")
    second = (await sim.git.git(repository, "rev-parse", "main")).strip()
    real, asked = git_store.run_git, []

    async def run_git(*args, **kwargs):
        asked.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(git_store, "run_git", run_git)
    diffs = [await sim.git.git(repository, "diff", first, second) for _ in range(3)]
    assert len(set(diffs)) == 1 and "+b" in diffs[0] and len(asked) == 1
    shown = await sim.git.git(repository, "show", "-s", "--format=%s", second)
    assert shown.strip() == "B" and len(asked) == 2
    for _ in range(2):
        await sim.git.git(repository, "show", "-s", "--format=%s", "main")
    assert len(asked) == 4  # a ref: asked each time
    await sim.push(repository, by="mona", files={"a.md": "c\n"}, message="C")
    assert (await sim.git.git(repository, "show", "-s", "--format=%s", "main")).strip() == "C"
