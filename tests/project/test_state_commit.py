"""The sprint's state committed by the App to the local GitHub over git HTTP: one commit per
batch saying what changed, a person's concurrent commit kept (a comment, another story, the
same story), a refused push tried again, a protected default branch served by one `ao/state`
pull request, and a file that may not be written never committed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.git.remote import Identity, Remote
from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients, WritePacing
from bot.project.sprint_edit import Change
from bot.project.sprint_status import SprintStatusError
from bot.project.state_commit import STATE_BRANCH, StateCommitter
from bot.project.state_pull import GitHubStatePulls
from tests.sim_support import app_on_hello
from tests.support import APP_ID

BOT = Identity.for_app("agent-orchestrator", 41898282)
PATH = "_bmad-output/implementation-artifacts/sprint-status.yaml"
FIXTURES = Path(__file__).parents[1] / "fixtures/sprint_status"
SPRINT = (FIXTURES / "hand-kept.yaml").read_text()


@pytest.fixture
async def world(make_sim, app_private_key, tmp_path):
    """octo-org/hello with @mona's sprint status on main, the App's clone of it, its client."""
    sim = await make_sim()
    _app, repository, installation = app_on_hello(sim, app_private_key)
    await sim.push(repository, by="mona", files={PATH: SPRINT, "README.md": "hi\n"})
    async with aiohttp.ClientSession() as session:
        clients = GitHubClients(
            session, api_url=sim.url,
            credentials=AppCredentials(str(APP_ID), app_private_key), pacing=WritePacing(0.0),
        )  # fmt: skip

        async def token() -> str:
            return await clients.tokens.token(clients.app(), installation.id)

        remote = Remote(tmp_path / "clone", f"{sim.url}/{repository.full_name}.git", token)
        gh = await clients.installation(installation.id)
        about = await gh.getitem(f"/repos/{repository.full_name}")
        pulls = GitHubStatePulls(gh, about)
        yield sim, repository, StateCommitter(remote, BOT, PATH, "main", pulls), gh


async def on_main(sim, repository, path=PATH, ref="main") -> str:
    return await sim.git.git(repository, "show", f"{ref}:{path}")


async def subject(sim, repository, ref="main") -> str:
    return (await sim.git.git(repository, "log", "-1", "--format=%an|%s", ref)).strip()


async def test_a_change_is_one_commit_by_the_app_saying_what_changed(world):
    sim, repository, committer, _ = world
    done = await committer.commit([Change("3-2b-search-by-tag", "in-progress")])
    assert done.sha and done.branch == "main" and done.attempts == 1
    assert await subject(sim, repository) == (
        "agent-orchestrator[bot]|Story 3-2b → in-progress [skip ci]"
    )
    assert await on_main(sim, repository) == SPRINT.replace(
        "3-2b-search-by-tag: ready-for-dev ", "3-2b-search-by-tag: in-progress "
    )
    batch = await committer.commit(
        [Change("epic-5h", "in-progress"), Change("5h-1-harvest-plan", "ready-for-dev")]
    )
    assert batch.attempts == 1
    assert await subject(sim, repository) == (
        "agent-orchestrator[bot]|Sprint status: Epic 5h, Story 5h-1 [skip ci]"
    )
    body = await sim.git.git(repository, "log", "-1", "--format=%b", "main")
    assert "- 5h-1-harvest-plan: backlog → ready-for-dev (bot)" in body
    nothing = await committer.commit([Change("1-1-login", "done")])  # `Done` already
    assert nothing.sha is None and not nothing.outcomes[0].written


PERSON_EDITS = {
    "a comment": (
        lambda text: "# Mona: revisar la épica 3 el lunes\n" + text,
        "in-progress",
    ),
    "another story": (
        lambda text: text.replace("3-3-export: deferred", "3-3-export: backlog"),
        "in-progress",
    ),
    "the same story": (  # mona moved it on first: hers stands, the bot's change is dropped
        lambda text: text.replace(
            "3-2b-search-by-tag: ready-for-dev", "3-2b-search-by-tag: review"
        ),
        "review",
    ),
}


@pytest.mark.parametrize("what", sorted(PERSON_EDITS))
async def test_a_persons_concurrent_commit_survives(world, what):
    """@mona pushes after the App read the file and before its push lands."""
    sim, repository, committer, _ = world
    edit, expected = PERSON_EDITS[what]
    pushed: list[str] = []
    push = committer.remote.push_commit

    async def mona_first(sha: str, branch: str, *, replace: bool = False) -> None:
        if not pushed:
            pushed.append(await sim.push(repository, by="mona", files={PATH: edit(SPRINT)}))
        await push(sha, branch, replace=replace)

    committer.remote.push_commit = mona_first  # type: ignore[method-assign]
    done = await committer.commit([Change("3-2b-search-by-tag", "in-progress")])
    after = await on_main(sim, repository)
    assert after == edit(SPRINT).replace(
        "3-2b-search-by-tag: ready-for-dev ", f"3-2b-search-by-tag: {expected} "
    )
    # never forced: her commit is in the branch's history
    await sim.git.git(repository, "merge-base", "--is-ancestor", pushed[0], "main")
    assert done.attempts == 2
    if what == "the same story":
        assert done.sha is None
        assert "since 'ready-for-dev' was read" in done.outcomes[0].reason
    else:
        assert done.sha is not None


async def test_the_branch_is_fetched_before_the_change_is_applied(world):
    sim, repository, committer, _ = world
    await committer.remote.sync()  # the App's view, then @mona moves the story on
    moved = SPRINT.replace("3-2b-search-by-tag: ready-for-dev", "3-2b-search-by-tag: review")
    await sim.push(repository, by="mona", files={PATH: moved})
    done = await committer.commit([Change("3-2b-search-by-tag", "in-progress")])
    assert done.attempts == 1 and done.sha is None  # backwards from hers: not written
    assert await on_main(sim, repository) == moved


async def test_changes_asked_for_at_once_go_as_few_commits_each_told_its_own(world):
    """Stories moving together share the commit under way's successor (a group commit), not a
    push each racing the others; a caller that stops waiting has its change left out."""
    sim, repository, committer, _ = world
    before = int(await sim.git.git(repository, "rev-list", "--count", "main"))
    asked = [
        [Change("3-2b-search-by-tag", "in-progress")],
        [Change("5h-1-harvest-plan", "ready-for-dev")],
        [Change("5-cp11-checkpoint-eleven", "in-progress"), Change("3-3-export", "backlog",
                                                                     by="person", login="mona")],
        [Change("1-1-login", "done")],  # already `Done`: told so, nothing written for it
    ]  # fmt: skip
    tasks = [asyncio.create_task(committer.commit(changes)) for changes in asked]
    gone = asyncio.create_task(committer.commit([Change("epic-5h", "in-progress")]))
    await asyncio.sleep(0)  # the first is committing; the others wait for it
    gone.cancel()
    done = await asyncio.gather(*tasks)
    for changes, result in zip(asked, done, strict=True):
        assert [o.change for o in result.outcomes] == changes
    assert [o.written for o in done[2].outcomes] == [True, True] and done[3].sha is not None
    assert not done[3].outcomes[0].written
    commits = int(await sim.git.git(repository, "rev-list", "--count", "main")) - before
    assert commits == 2, commits  # the first alone; the rest together, after it
    text = await on_main(sim, repository)
    assert "3-2b-search-by-tag: in-progress" in text and "5h-1-harvest-plan: ready-for-dev" in text
    assert "5-cp11-checkpoint-eleven: in-progress" in text and "3-3-export: backlog" in text
    assert "epic-5h: backlog" in text  # its caller stopped waiting: not made


async def test_a_refused_push_is_fetched_and_tried_again(world):
    sim, repository, committer, _ = world
    sim.git_http.faults.refuse_next_push()
    done = await committer.commit([Change("3-3-export", "backlog", by="person", login="mona")])
    assert done.attempts == 2 and done.sha
    assert await subject(sim, repository) == (
        "agent-orchestrator[bot]|Story 3-3 → backlog [skip ci]"
    )


async def test_a_protected_default_branch_gets_one_state_pull_request_kept_current(world):
    sim, repository, committer, gh = world
    sim.protect_branch(repository, "main")
    main_before = await sim.git.git(repository, "rev-parse", "main")
    first = await committer.commit([Change("3-2b-search-by-tag", "in-progress")])
    second = await committer.commit([Change("3-2b-search-by-tag", "review")])
    assert first.branch == second.branch == STATE_BRANCH
    assert await sim.git.git(repository, "rev-parse", "main") == main_before
    pulls = [p async for p in gh.getiter(f"/repos/{repository.full_name}/pulls?state=all")]
    assert len(pulls) == 1 and pulls[0]["head"]["ref"] == STATE_BRANCH
    assert pulls[0]["number"] == first.pull_request["number"] == second.pull_request["number"]
    assert "in-progress → review" in pulls[0]["body"]  # kept current
    log = await sim.git.git(repository, "log", "--format=%s", f"main..{STATE_BRANCH}")
    assert log.splitlines() == [
        "Story 3-2b → review [skip ci]",
        "Story 3-2b → in-progress [skip ci]",
    ]
    assert "3-2b-search-by-tag: review " in await on_main(sim, repository, ref=STATE_BRANCH)


async def test_a_file_that_may_not_be_written_is_never_committed(world):
    sim, repository, committer, _ = world
    broken = (FIXTURES / "invalid/duplicate-keys.yaml").read_text()
    await sim.push(repository, by="mona", files={PATH: broken})
    tip = await sim.git.git(repository, "rev-parse", "main")
    with pytest.raises(SprintStatusError) as raised:
        await committer.commit([Change("1-2-logout", "ready-for-dev")])
    assert raised.value.reason == "duplicate-key" and raised.value.line == 5
    assert await sim.git.git(repository, "rev-parse", "main") == tip
