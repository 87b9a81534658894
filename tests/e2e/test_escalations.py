"""End to end: a run's question becomes an issue, a maintainer's `/ao answer` resumes the run
and changes what the agents write; a read-only user's answer is ignored; a question closed
without an answer cancels the run. The real server as a subprocess, the local GitHub, the
Anthropic-protocol rule model (it writes a person's answer into its work only when the
request carries it)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.e2e.conftest import BOT_LOGIN, World, model_env
from tests.e2e.test_runs_from_github import seed_files

pytestmark = pytest.mark.slow

STEP_2 = "_bmad/bmm/workflows/brief/steps/step-02-users.md"
#: Step 2 asks who the users are, with options and none that carries on: a person decides.
ASKING = """---
name: step-02
description: 'Describe the users'
nextStepFile: './step-03-scope.md'
outputFile: '{output_folder}/brief.md'
---
# Step 2: Describe the users

Describe the users of the product brief.

## MENU

Who is the brief for?
[1] Teams at work
[2] Families at home
HALT and wait for user input.
"""


def asking_files() -> dict[str, str]:
    return seed_files() | {STEP_2: ASKING}


@pytest.fixture
def world_env(anthropic_server) -> dict[str, str]:
    # Writes paced a second apart, as on github.com.
    return model_env(anthropic_server.url) | {"ORCHESTRATOR_WRITE_INTERVAL_SECONDS": "1"}


def escalations(world: World) -> list:
    repository = world.repository
    return [
        i
        for i in repository.issues.values()
        if i.pull is None and any(repository.labels[x].name == "escalation" for x in i.labels)
    ]


async def close_as(world: World, login: str, number: int) -> None:
    """A person closes an issue on the web: a PATCH with their own token."""
    url = f"{world.sim.url}/repos/{world.repository.full_name}/issues/{number}"
    headers = {"Authorization": f"token {world.sim.user_token(login)}"}
    async with (
        aiohttp.ClientSession() as session,
        session.patch(url, json={"state": "closed"}, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()


async def start_and_wait_for_the_question(world: World, title: str) -> tuple[int, object]:
    sim, repository = world.sim, world.repository
    issue = sim.open_issue(repository, by="maya", title=title, body="Write the brief.")
    before = {i.number for i in escalations(world)}
    sim.comment(repository, issue.number, by="maya", body="/ao start brief")
    await world.until(
        lambda: any(i.number not in before and i.assignees for i in escalations(world)),
        timeout=120,
    )
    [question] = [i for i in escalations(world) if i.number not in before]
    return issue.number, question


async def test_an_answered_question_resumes_the_run_and_shapes_its_document(
    world, anthropic_server
):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=asking_files(), message="Install BMAD")

    home, question = await start_and_wait_for_the_question(world, "Brief for teams")
    assert question.via_app is not None and question.user.login == BOT_LOGIN
    assert "Teams at work" in question.body and "1. [1] Teams at work" in question.body
    assert "/ao answer" in question.body and [u.login for u in question.assignees] == ["maya"]
    assert "what the agent read" in question.body and "step-02-users.md" in question.body
    status = lambda: [c for c in world.bot_comments(home) if "**brief**" in c.body]  # noqa: E731
    await world.until(lambda: status() and f"/issues/{question.number}" in status()[0].body)
    assert "paused" in status()[0].body

    # A plain comment is not an answer; a read-only user's answer is ignored with one note.
    sim.comment(repository, question.number, by="maya", body="Teams, I think.")
    sim.comment(repository, question.number, by="rita", body="/ao answer 2")
    sim.comment(repository, question.number, by="rita", body="/ao answer 2 please")
    await world.quiet()
    notes = world.bot_comments(question.number)
    assert len(notes) == 1 and "@rita" in notes[0].body and "write access" in notes[0].body
    assert question.state == "open"
    requests_before = len(anthropic_server.requests)

    sim.comment(repository, question.number, by="maya", body="/ao answer 1")
    await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)
    await world.quiet()

    # One acknowledgement, the question closed with a summary, the run resumed to its PR.
    acks = [c for c in world.bot_comments(question.number) if "Answer recorded" in c.body]
    assert len(acks) == 1 and "Teams at work" in acks[0].body
    assert question.state == "closed" and question.state_reason == "completed"
    assert any("Answered by @maya" in c.body for c in world.bot_comments(question.number))
    [pull] = sim.pulls.of(repository)
    assert "decided by @maya" in pull.issue.body
    # The answer reached the agent: in the very next request that did step 2's work.
    later = [json.dumps(r) for r in anthropic_server.requests[requests_before:]]
    work = [r for r in later if "Call the `ready` tool" not in r]  # not the tool-call probe
    assert "Decided by @maya: [1] Teams at work" in work[0] and "Describe the users" in work[0]
    brief = await sim.git.git(repository, "show", f"{pull.head_ref}:docs/brief.md")
    assert "As decided: [1] Teams at work." in brief
    log = await sim.git.git(
        repository, "show", f"{pull.head_ref}:_bmad-output/ao-runs/{home}-brief/decisions.md"
    )
    assert "decided by @maya" in log
    assert len(escalations(world)) == 1


async def test_two_answers_give_two_documents(world):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=asking_files(), message="Install BMAD")

    documents = {}
    for answer in ("2", "Schools and their teachers"):
        home, question = await start_and_wait_for_the_question(world, f"Brief: {answer}")
        # Answered on the run's home issue: its one open question.
        sim.comment(repository, home, by="maya", body=f"/ao answer {answer}")
        await world.until(
            lambda home=home: any(
                p.head_ref == f"ao/{home}-brief" for p in sim.pulls.of(repository)
            ),
            timeout=120,
        )
        await world.quiet()
        assert question.state == "closed"
        documents[answer] = await sim.git.git(repository, "show", f"ao/{home}-brief:docs/brief.md")
    assert documents["2"] != documents["Schools and their teachers"]
    assert "As decided: [2] Families at home." in documents["2"]
    assert "As decided: Schools and their teachers." in documents["Schools and their teachers"]


async def test_a_question_closed_without_an_answer_cancels_the_run(world):
    sim, repository = world.sim, world.repository
    sim.install(world.app, [repository], by="octo-org")
    await sim.push(repository, by="maya", files=asking_files(), message="Install BMAD")

    home, question = await start_and_wait_for_the_question(world, "Brief, dropped")
    await close_as(world, "maya", question.number)
    status = lambda: [c for c in world.bot_comments(home) if "**brief**" in c.body]  # noqa: E731
    await world.until(lambda: "cancelled" in status()[0].body)
    await world.quiet()
    assert "closed the question" in status()[0].body and "@maya" in status()[0].body
    assert not sim.pulls.of(repository)
    assert f"refs/heads/ao/{home}-brief" in await sim.git.refs(repository)  # kept

    # Retried, it continues from its branch to the same question, asked again in its issue.
    sim.comment(repository, home, by="maya", body="/ao retry")
    await world.until(lambda: question.state == "open", timeout=120)
    await world.until(lambda: "paused" in status()[0].body)
    await world.quiet()
    assert sum("is queued again" in c.body for c in world.bot_comments(home)) == 1
    assert len(escalations(world)) == 1

    # Cancelled while it waits: its question is closed with a note, its branch kept.
    sim.comment(repository, home, by="maya", body="/ao cancel")
    # Writes here are a second apart (ORCHESTRATOR_WRITE_INTERVAL_SECONDS=1): on a loaded
    # machine the cancel's close and edit wait behind the writes queued before them.
    await world.until(
        lambda: question.state == "closed" and "cancelled" in status()[0].body, timeout=60
    )
    await world.quiet()
    assert question.state_reason == "not_planned"
    assert any("Closed without an answer" in c.body for c in world.bot_comments(question.number))
    assert f"refs/heads/ao/{home}-brief" in await sim.git.refs(repository)

    # Retried again and answered this time: it ends in its pull request.
    sim.comment(repository, home, by="maya", body="/ao retry")
    await world.until(lambda: question.state == "open", timeout=120)
    await world.until(lambda: "paused" in status()[0].body)
    sim.comment(repository, question.number, by="maya", body="/ao answer 2")
    await world.until(lambda: bool(sim.pulls.of(repository)), timeout=120)


class TestSigkill:
    """The server is SIGKILLed while its run waits for an answer, and again while the answer
    is being applied: one acknowledgement, one resumed run, nothing posted twice."""

    @pytest.fixture
    def world_env(self, anthropic_server) -> dict[str, str]:
        return model_env(anthropic_server.url) | {
            "ORCHESTRATOR_WRITE_INTERVAL_SECONDS": "1",
            "ORCHESTRATOR_JOB_LEASE_SECONDS": "2",
        }

    async def test_sigkill_while_paused_and_while_the_answer_is_applied(self, world):
        sim, repository = world.sim, world.repository
        sim.install(world.app, [repository], by="octo-org")
        await sim.push(repository, by="maya", files=asking_files(), message="Install BMAD")
        home, question = await start_and_wait_for_the_question(world, "Brief, killed")
        status = lambda: [c for c in world.bot_comments(home) if "**brief**" in c.body]  # noqa: E731
        await world.until(lambda: status() and f"/issues/{question.number}" in status()[0].body)

        await world.kill()  # paused, waiting for a person
        await world.start()
        await world.quiet()
        assert len(escalations(world)) == 1 and question.state == "open"

        sim.comment(repository, question.number, by="maya", body="/ao answer 2")
        summary = lambda: [  # noqa: E731
            c for c in world.bot_comments(question.number) if "Answered by @maya" in c.body
        ]
        await world.until(lambda: bool(summary()))
        # Writes are paced a second apart: the close and the acknowledgement are still to come.
        await world.kill()
        assert not [c for c in world.bot_comments(question.number) if "Answer recorded" in c.body]
        await world.start()
        await world.until(lambda: "✅ done" in status()[0].body, timeout=120)
        await world.quiet()

        acks = [c for c in world.bot_comments(question.number) if "Answer recorded" in c.body]
        assert len(acks) == 1 and len(summary()) == 1
        assert question.state == "closed" and len(escalations(world)) == 1
        assert len(status()) == 1 and "✅ done" in status()[0].body
        [pull] = sim.pulls.of(repository)
        log = await sim.git.git(repository, "log", "--format=%s", pull.head_ref)
        for n in (1, 2, 3):
            assert sum(f"step {n} " in s for s in log.splitlines()) == 1
        brief = await sim.git.git(repository, "show", f"{pull.head_ref}:docs/brief.md")
        assert brief.count("As decided: [2] Families at home.") == 1
