"""The App's git against the local GitHub over HTTP: a clone per repository, run branches,
commits by the App, pushes with a fresh installation token each time, and the token nowhere
it could leak."""

from __future__ import annotations

import datetime
import logging
import shutil
from pathlib import Path

import aiohttp
import pytest

from bot.git.refs import resolve
from bot.git.remote import GitFailed, Identity, Remote, git, run_branch
from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients, WritePacing
from tests.sim_support import app_on_hello
from tests.support import APP_ID

BOT = Identity.for_app("agent-orchestrator", 41898282)


@pytest.fixture
async def world(make_sim, app_private_key, tmp_path):
    """The local GitHub with the App installed on a repository @mona pushed to, and the
    App's own clients (tokens cached, as the server has them). Tokens expire in 3 s."""
    sim = await make_sim(token_lifetime=datetime.timedelta(seconds=3))
    _app, repository, installation = app_on_hello(sim, app_private_key)
    await sim.push(repository, by="mona", files={"README.md": "hello\n"}, message="First")
    async with aiohttp.ClientSession() as session:
        clients = GitHubClients(
            session, api_url=sim.url,
            credentials=AppCredentials(str(APP_ID), app_private_key), pacing=WritePacing(0.0),
        )  # fmt: skip
        issued: list[str] = []

        async def token() -> str:
            value = await clients.tokens.token(clients.app(), installation.id)
            issued.append(value)
            return value

        clone_url = f"{sim.url}/{repository.full_name}.git"
        yield (
            sim,
            repository,
            Remote(tmp_path / "data/repos/octo-org/hello", clone_url, token),
            issued,
        )


def files_under(root: Path) -> str:
    return "".join(p.read_bytes().decode(errors="replace") for p in root.rglob("*") if p.is_file())


async def test_a_run_branch_is_committed_by_the_app_and_pushed(world, tmp_path, caplog):
    sim, repository, remote, issued = world
    caplog.set_level(logging.DEBUG)
    await remote.sync()
    branch = run_branch(7, "create-prd", await remote.branches("ao/7-"))
    assert branch == "ao/7-create-prd"
    work = await remote.worktree(tmp_path / "data/worktrees/run-1", branch, "main")
    (work / "docs").mkdir()
    (work / "docs/prd.md").write_text("# PRD\n")
    sha = await remote.commit(work, "create-prd: step 1 — Write the vision", BOT)
    assert sha is not None
    assert await remote.commit(work, "nothing", BOT) is None  # nothing changed, no commit
    await remote.push(work, branch)

    # What a person sees on GitHub: the branch, the file, the App's commit.
    assert branch in await remote.branches("ao/")
    shown = await sim.git.git(repository, "log", "-1", "--format=%an <%ae>|%s", branch)
    author, subject = shown.strip().split("|")
    assert (
        author
        == "agent-orchestrator[bot] <41898282+agent-orchestrator[bot]@users.noreply.github.com>"
    )
    assert subject == "create-prd: step 1 — Write the vision"

    # A fresh token for every network operation (clone, fetch, ls-remote twice, push) ...
    assert len(issued) == 5 and len(set(issued)) >= 1
    # ... and none of them anywhere it could leak.
    on_disk = files_under(tmp_path / "data")
    logged = caplog.text
    for token in set(issued):
        assert token not in on_disk and token not in logged
    assert "credential" not in (remote.clone / "config").read_text()


async def test_tokens_that_expire_every_few_seconds_do_not_stop_the_work(world, tmp_path):
    sim, _repository, remote, issued = world
    now = [datetime.datetime.now(datetime.UTC)]
    sim.state.clock = lambda: now[0]
    await remote.sync()
    work = await remote.worktree(tmp_path / "w", "ao/1-long", "main")
    for n in range(3):
        (work / f"part-{n}.md").write_text(f"part {n}\n")
        await remote.commit(work, f"long: step {n + 1}", BOT)
        now[0] += datetime.timedelta(seconds=4)  # every token issued so far has expired
        await remote.push(work, "ao/1-long")
    assert len(set(issued)) >= 4  # a new token each time the old one had expired
    assert "ao/1-long" in await remote.branches("ao/")


async def test_a_run_goes_on_from_its_branch_alone(world, tmp_path):
    _sim, _repository, remote, _issued = world
    await remote.sync()
    work = await remote.worktree(tmp_path / "first", "ao/3-brief", "main")
    (work / "brief.md").write_text("---\nstepsCompleted: [1]\n---\n# Brief\n")
    await remote.commit(work, "brief: step 1", BOT)
    await remote.push(work, "ao/3-brief")
    shutil.rmtree(tmp_path / "data")  # the data dir is gone (another machine, a new disk)
    again = Remote(remote.clone, remote.clone_url, remote._token)
    await again.sync()
    resumed = await again.worktree(tmp_path / "second", "ao/3-brief", "main")
    assert (resumed / "brief.md").read_text().startswith("---\nstepsCompleted: [1]")
    assert run_branch(3, "brief", await again.branches("ao/3-")) == "ao/3-brief-2"


async def test_a_refused_token_fails_with_gits_words_and_no_secret(world, tmp_path):
    sim, _repository, remote, issued = world
    await remote.sync()
    work = await remote.worktree(tmp_path / "w", "ao/9-x", "main")
    (work / "x.md").write_text("x\n")
    await remote.commit(work, "x: step 1", BOT)
    for token in set(issued):
        sim.revoke(token)

    async def revoked() -> str:
        return issued[-1]

    refused = Remote(remote.clone, remote.clone_url, revoked)
    with pytest.raises(GitFailed) as failure:
        await refused.push(work, "ao/9-x")
    assert "Authentication failed" in str(failure.value) or "401" in str(failure.value)
    assert issued[-1] not in str(failure.value)


def test_run_branches_are_named_from_the_issue_and_the_workflow():
    assert run_branch(12, "bmm:create-story", []) == "ao/12-bmm-create-story"
    taken = ["ao/12-create-prd", "ao/12-create-prd-2"]
    assert run_branch(12, "create-prd", taken) == "ao/12-create-prd-3"
    assert run_branch(5, "../../etc", []) == "ao/5-etc"


async def test_git_runs_without_the_servers_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "-----BEGIN very secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    await git("init", "-q", str(tmp_path))
    # `git var` shows what a hook or helper would inherit: the keys are not there.
    shown = await git("-c", "alias.env=!env", "env", cwd=tmp_path)
    assert "very secret" not in shown and "sk-ant-secret" not in shown
    assert "GIT_CONFIG_GLOBAL=/dev/null" in shown


async def test_a_clone_cut_short_is_redone_not_taken_for_one(world):
    # A crash mid-clone, or a git process that outlived its server, leaves a folder behind.
    _sim, _repository, remote, _issued = world
    remote.clone.mkdir(parents=True)
    (remote.clone / "objects").mkdir()
    (remote.clone / "FETCH_HEAD").write_text("half\n")
    await remote.sync()
    assert "main" in await remote.branches()
    assert not remote.clone.with_name(remote.clone.name + ".partial").exists()


async def test_syncs_asked_while_one_runs_share_the_next_and_fetch_only_what_moved(
    world, monkeypatch
):
    """Twenty stories starting at once each ask for a sync: those that ask while one runs
    share one begun after they asked, and each sees what GitHub had when it asked. A sync
    asks GitHub what its branches name, and fetches only when the clone's differ."""
    import asyncio

    sim, repository, remote, _issued = world
    asked, pushed = await _a_push_during_the_first_ask(world, monkeypatch)
    first = asyncio.create_task(remote.sync())
    await pushed.wait()  # the first asked before the push: these ask after it
    await asyncio.gather(*(remote.sync() for _ in range(10)))
    await first
    # The first (nothing new); the first of the ten (the push: fetched); the nine that ask
    # while it runs share the next (nothing new again).
    assert [a[0] for a in asked] == ["ls-remote", "ls-remote", "fetch", "ls-remote"]
    assert "--prune" in asked[2]
    tip = (await sim.git.git(repository, "rev-parse", "main")).strip()
    seen = await git("rev-parse", "refs/remotes/origin/main", cwd=remote.clone)
    assert seen.strip() == tip  # the push made before they asked is seen
    await remote.sync()  # asked with none running: its own ask, and nothing to fetch
    assert [a[0] for a in asked[4:]] == ["ls-remote"]
    # A branch made, and one deleted, on GitHub: fetched, and pruned.
    await sim.push(repository, by="mona", files={"c.md": "c\n"}, message="C", branch="topic")
    await remote.sync()
    assert await git("rev-parse", "refs/remotes/origin/topic", cwd=remote.clone)
    await sim.git.git(repository, "branch", "-D", "topic")
    await remote.sync()
    assert [a[0] for a in asked[5:]] == ["ls-remote", "fetch", "ls-remote", "fetch"]
    with pytest.raises(GitFailed):
        await git("rev-parse", "--verify", "refs/remotes/origin/topic", cwd=remote.clone)


async def test_fetches_of_a_branch_asked_at_once_share_the_next_one(world, monkeypatch):
    """A sprint's passes, status commits and merges each fetch the default branch, often at
    once: those that ask while one runs share one begun after they asked, and each gets the
    tip GitHub had when it asked; a branch GitHub lacks is None for all who shared. Only a
    branch GitHub moved is fetched."""
    import asyncio

    sim, repository, remote, _issued = world
    asked, pushed = await _a_push_during_the_first_ask(world, monkeypatch)
    first = asyncio.create_task(remote.fetch("main"))
    await pushed.wait()
    tips = await asyncio.gather(*(remote.fetch("main") for _ in range(10)))
    before = await first
    tip = (await sim.git.git(repository, "rev-parse", "main")).strip()
    assert before != tip  # the first asked before the push: nothing to fetch for it
    assert set(tips) == {tip}  # the push made before they asked is seen by every one
    assert [a[0] for a in asked] == ["ls-remote", "ls-remote", "fetch", "ls-remote"]
    assert asked[2][-1] == "+refs/heads/main:refs/remotes/origin/main"
    assert await remote.fetch("main") == tip  # GitHub's is the clone's: nothing fetched
    assert [a[0] for a in asked[4:]] == ["ls-remote"]
    del asked[:]
    assert await asyncio.gather(*(remote.fetch("gone") for _ in range(3))) == [None] * 3
    assert [a[0] for a in asked] == ["ls-remote"] * 2  # the first alone, then the two
    # A sync and a fetch of a branch made meanwhile, at once: each finds it, and its
    # objects are fetched once (the second to hold the clone finds them there).
    del asked[:]
    await sim.push(repository, by="mona", files={"d.md": "d\n"}, message="D", branch="topic")
    topic = (await sim.git.git(repository, "rev-parse", "topic")).strip()
    _, fetched = await asyncio.gather(remote.sync(), remote.fetch("topic"))
    assert fetched == topic == resolve(remote.clone, "refs/remotes/origin/topic")
    assert sorted(a[0] for a in asked) == ["fetch", "ls-remote", "ls-remote"], asked


async def _a_push_during_the_first_ask(world, monkeypatch):
    """The clone synced, then what it asks of GitHub recorded (ls-remote and fetch, with
    their arguments), a person's push landing on GitHub just after the first ask has its
    answer; (the asks, set once that push is made)."""
    import asyncio

    sim, repository, remote, _issued = world
    await remote.sync()
    asked: list[tuple[str, ...]] = []
    real = remote._network
    pushed = asyncio.Event()

    async def network(*args: str, cwd: Path | None = None) -> str:
        if args[0] in ("fetch", "ls-remote"):
            asked.append(args)
            if not pushed.is_set():
                out = await real(*args, cwd=cwd)
                await sim.push(repository, by="mona", files={"b.md": "b\n"}, message="B")
                pushed.set()
                return out
        return await real(*args, cwd=cwd)

    monkeypatch.setattr(remote, "_network", network)
    return asked, pushed
