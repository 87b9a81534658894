"""Real git against the stand-in: `git clone`, `git push` with tokens, protected branches, and
the webhooks a push sends."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from githubsim.git_store import base_env
from githubsim.people_git import PushRefused, authenticated_url
from tests.sim_support import app_on_hello
from tests.support import MANIFEST


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=base_env(), capture_output=True, text=True, check=check
    )


async def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """git off the event loop (the stand-in answers it on this loop)."""
    import asyncio

    return await asyncio.to_thread(git, *args, cwd=cwd, check=False)


def manifest_with(tmp_path: Path, *events: str) -> Path:
    """Our App's manifest, subscribed to more events (GitHub sends only those subscribed)."""
    data = yaml.safe_load(MANIFEST.read_text())
    data["default_events"] = [*data["default_events"], *events]
    path = tmp_path / "app.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
async def world(make_sim, app_private_key, aiohttp_server, tmp_path):
    from aiohttp import web

    from tests.githubsim.test_routes_and_webhooks import Receiver

    receiver = Receiver()
    hooks = web.Application()
    hooks.router.add_post("/webhooks", receiver.handle)
    server = await aiohttp_server(hooks)
    sim = await make_sim()
    app, repository, installation = app_on_hello(
        sim,
        app_private_key,
        manifest=manifest_with(tmp_path, "create", "delete"),
        webhook_url=str(server.make_url("/webhooks")),
    )
    await sim.push(repository, by="mona", files={"README.md": "hello\n"}, message="First")
    await sim.settle()
    return sim, app, repository, installation, receiver


def installation_url(sim, repository, installation) -> str:
    token = sim.auth.installation_token(installation).value
    return authenticated_url(sim.url, repository, "x-access-token", token)


async def test_the_app_clones_and_pushes_with_its_installation_token(world, tmp_path):
    sim, _app, repository, installation, receiver = world
    url = installation_url(sim, repository, installation)
    cloned = await run("clone", "--quiet", url, str(tmp_path / "work"))
    assert cloned.returncode == 0, cloned.stderr
    work = tmp_path / "work"
    assert (work / "README.md").read_text() == "hello\n"
    (work / "story.md").write_text("a story\n")
    git("add", "story.md", cwd=work)
    git(
        "-c",
        "user.name=bot",
        "-c",
        "user.email=bot@example.com",
        "commit",
        "-qm",
        "Story",
        cwd=work,
    )
    git("checkout", "-qb", "story-1", cwd=work)
    pushed = await run("push", "--quiet", "origin", "story-1", "main", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    await sim.settle()
    pushes = [json.loads(b) for h, b in receiver.received if h["X-GitHub-Event"] == "push"]
    last = {p["ref"]: p for p in pushes[-2:]}
    assert last["refs/heads/main"]["commits"][0]["message"] == "Story"
    assert last["refs/heads/main"]["commits"][0]["added"] == ["story.md"]
    assert last["refs/heads/story-1"]["created"] is True
    assert last["refs/heads/main"]["pusher"]["name"] == "agent-orchestrator[bot]"
    assert ("create", None) in receiver.events()
    assert (
        await sim.git.resolve(repository, "refs/heads/story-1")
        == git("rev-parse", "HEAD", cwd=work).stdout.strip()
    )


async def test_a_public_repository_clones_anonymously_and_a_private_one_does_not(world, tmp_path):
    sim, _app, repository, _installation, _receiver = world
    anonymous = await run(
        "clone", "--quiet", f"{sim.url}/{repository.full_name}.git", str(tmp_path / "a")
    )
    assert anonymous.returncode == 0, anonymous.stderr
    assert (tmp_path / "a" / "README.md").exists()
    secret = sim.create_repository("octo-org/secret", private=True)
    await sim.push(secret, by="octo-org", files={"x": "1"})
    refused = await run("clone", "--quiet", f"{sim.url}/octo-org/secret.git", str(tmp_path / "b"))
    assert refused.returncode != 0
    assert (
        "401" in refused.stderr
        or "Authentication failed" in refused.stderr
        or "could not read Username" in refused.stderr
    )
    owner = authenticated_url(sim.url, secret, "octo-org", sim.user_token("octo-org"))
    assert (await run("clone", "--quiet", owner, str(tmp_path / "c"))).returncode == 0
    anonymous_push = await run("push", "--quiet", "origin", "HEAD:refs/heads/x", cwd=tmp_path / "a")
    assert anonymous_push.returncode != 0


async def test_expired_revoked_and_read_only_tokens_are_refused(world, tmp_path):
    sim, _app, repository, installation, _receiver = world
    assert (
        await run("clone", "-q", sim.url + "/octo-org/hello.git", str(tmp_path / "r"))
    ).returncode == 0
    token = sim.auth.installation_token(installation)
    sim.revoke(token.value)
    url = authenticated_url(sim.url, repository, "x-access-token", token.value)
    revoked = await run("push", url, "HEAD:refs/heads/revoked", cwd=tmp_path / "r")
    assert revoked.returncode != 0 and "Authentication failed" in revoked.stderr
    expired = sim.auth.installation_token(installation)
    expired.expires_at = sim.state.clock()
    url = authenticated_url(sim.url, repository, "x-access-token", expired.value)
    late = await run("push", url, "HEAD:refs/heads/expired", cwd=tmp_path / "r")
    assert late.returncode != 0 and "Authentication failed" in late.stderr
    assert await sim.git.refs(repository) == {
        "refs/heads/main": await sim.git.resolve(repository, "main")
    }
    # an installation without contents: write reads but cannot push
    installation.app.permissions["contents"] = "read"
    url = installation_url(sim, repository, installation)
    assert (await run("clone", "--quiet", url, str(tmp_path / "w"))).returncode == 0
    git("checkout", "-qb", "b", cwd=tmp_path / "w")
    refused = await run("push", "--quiet", "origin", "b", cwd=tmp_path / "w")
    assert refused.returncode != 0 and "403" in refused.stderr
    # a reader's own token reads, and cannot push
    sim.grant(repository, "riley", "read")
    with pytest.raises(PushRefused, match="403"):
        await sim.push(repository, by="riley", files={"x": "y"}, branch="riley")


async def test_a_protected_branch_refuses_pushes_with_githubs_message(world):
    sim, _app, repository, _installation, _receiver = world
    sim.protect_branch(repository, "main")
    before = await sim.git.resolve(repository, "main")
    with pytest.raises(PushRefused) as refused:
        await sim.push(repository, by="mona", files={"README.md": "changed\n"})
    assert "GH006: Protected branch update failed for refs/heads/main." in refused.value.output
    assert await sim.git.resolve(repository, "main") == before
    sha = await sim.push(repository, by="mona", files={"README.md": "ok\n"}, branch="feature")
    assert await sim.git.resolve(repository, "feature") == sha


async def test_deleting_a_branch_and_force_pushing_are_announced(world, tmp_path):
    sim, _app, repository, _installation, receiver = world
    await sim.push(repository, by="mona", files={"a": "1"}, branch="topic")
    await sim.push(
        repository, by="mona", files={"a": "2"}, branch="topic", from_branch="main", force=True
    )
    url = authenticated_url(sim.url, repository, "mona", sim.user_token("mona"))
    git("init", "-q", str(tmp_path / "empty"))
    deleted = await run("push", "--quiet", url, ":refs/heads/topic", cwd=tmp_path / "empty")
    assert deleted.returncode == 0, deleted.stderr
    await sim.settle()
    pushes = [json.loads(b) for h, b in receiver.received if h["X-GitHub-Event"] == "push"]
    assert [p["forced"] for p in pushes[-2:]] == [True, False]
    assert pushes[-1]["deleted"] is True and pushes[-1]["head_commit"] is None
    assert receiver.events()[-1] == ("delete", None)


async def test_git_fails_on_demand(world, tmp_path):
    sim, _app, repository, _installation, _receiver = world
    sim.git_http.faults.refuse_next_push("try again later")
    with pytest.raises(PushRefused, match="try again later"):
        await sim.push(repository, by="mona", files={"x": "1"}, branch="f")
    await sim.push(repository, by="mona", files={"x": "1"}, branch="f")
    sim.faults.fail_when("POST", "/git-upload-pack", 500)
    failed = await run(
        "clone", "--quiet", f"{sim.url}/{repository.full_name}.git", str(tmp_path / "x")
    )
    assert failed.returncode != 0 and "500" in failed.stderr
    again = await run(
        "clone", "--quiet", f"{sim.url}/{repository.full_name}.git", str(tmp_path / "y")
    )
    assert again.returncode == 0


async def test_clone_url_is_where_git_is_served(world, tmp_path):
    import aiohttp

    sim, _app, repository, _installation, _receiver = world
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.url}/repos/{repository.full_name}") as answer,
    ):
        data = await answer.json()
    assert data["clone_url"] == f"{sim.url}/{repository.full_name}.git"
    assert (await run("ls-remote", data["clone_url"])).returncode == 0


async def test_a_fetch_whose_negotiation_git_gzips_is_answered(world, tmp_path):
    """git gzips a request body over 1 KiB (a fetch from a clone with many commits of its
    own sends that many `have` lines): the stand-in's server inflates it before git's
    http-backend reads it, so the backend must not be told it is gzipped (it answered
    nothing, and every later fetch of that clone failed with "expected 'acknowledgments'")."""
    sim, _app, repository, installation, _receiver = world
    url = installation_url(sim, repository, installation)
    work = tmp_path / "work"
    cloned = await run("clone", "--quiet", url, str(work))
    assert cloned.returncode == 0, cloned.stderr
    git("checkout", "-qb", "local", cwd=work)
    for n in range(150):  # commits GitHub has not seen: each one a `have` line
        (work / f"note-{n}.md").write_text(f"{n}\n")
        git("add", ".", cwd=work)
        git("-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-qm", f"{n}",
            cwd=work)  # fmt: skip
    await sim.push(repository, by="mona", files={"later.md": "later\n"}, message="Later")
    fetched = await run("-c", "protocol.version=2", "fetch", "--quiet", "origin", "main", cwd=work)
    assert fetched.returncode == 0, fetched.stderr
    assert git("show", "FETCH_HEAD:later.md", cwd=work).stdout == "later\n"


async def test_pushes_at_once_each_announce_their_own_refs(world):
    """Pushes to different branches go side by side, as on GitHub, and each sends a push
    event for the refs it moved: once each, with its own before and after."""
    import asyncio

    sim, _app, repository, _installation, receiver = world
    main_before = await sim.git.resolve(repository, "main")
    shas = await asyncio.gather(
        sim.push(repository, by="mona", files={"main.md": "m\n"}, branch="main"),
        *(sim.push(repository, by="mona", files={f"f{n}.md": f"{n}\n"}, branch=f"b{n}")
          for n in range(6)),
    )  # fmt: skip
    await sim.settle()
    pushes = [json.loads(b) for h, b in receiver.received if h["X-GitHub-Event"] == "push"]
    latest = pushes[-7:]
    assert sorted(p["ref"] for p in latest) == sorted(
        ["refs/heads/main", *(f"refs/heads/b{n}" for n in range(6))]
    )
    by_ref = {p["ref"]: p for p in latest}
    assert by_ref["refs/heads/main"]["before"] == main_before
    assert by_ref["refs/heads/main"]["after"] == shas[0]
    assert [p["commits"][-1]["message"] for p in latest if p["ref"] == "refs/heads/main"]
    for n in range(6):
        event = by_ref[f"refs/heads/b{n}"]
        assert event["created"] is True and event["after"] == shas[n + 1]
        assert [c["id"] for c in event["commits"]] == [shas[n + 1]]  # only its own commit
