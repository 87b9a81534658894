"""The status issue on the local GitHub: opened once, found again by its marker, edited only
when its body changed (a burst is one edit), pinned; left unpinned, with a log line, when
three issues are pinned already."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients, WritePacing
from bot.project.status_issue import MARK, TITLE
from bot.project.status_publish import StatusIssues
from tests.sim_support import app_on_hello
from tests.support import APP_ID


@pytest.fixture
async def stage(make_sim, graphql_description, app_private_key):
    sim = await make_sim(graphql=graphql_description)
    _, repository, installation = app_on_hello(sim, app_private_key)
    async with aiohttp.ClientSession() as session:
        credentials = AppCredentials(str(APP_ID), app_private_key)
        clients = GitHubClients(
            session, api_url=sim.url, pacing=WritePacing(0.0), credentials=credentials
        )
        yield sim, repository, clients, installation.id


def body(text: str) -> str:
    return f"## {TITLE}\n\n{text}\n\n{MARK}"


async def test_one_status_issue_pinned_and_edited_only_when_it_changed(stage):
    sim, repository, clients, installation_id = stage
    gh = await clients.installation(installation_id)
    issues = StatusIssues(APP_ID)
    first = await issues.publish(gh, repository.full_name, body("one"))
    again = await StatusIssues(APP_ID).publish(gh, repository.full_name, body("one"))  # a restart
    assert again["number"] == first["number"]
    assert [i.title for i in repository.issues.values()] == [TITLE]
    assert sim.graphql.pinned[repository.id] == [first["id"]]
    patches = sum(1 for m, _, _ in sim.calls if m == "PATCH")
    assert patches == 0  # the same body: no edit

    async def client():
        return gh

    quick = StatusIssues(APP_ID, debounce_s=0.05)
    for n in range(5):  # a burst: one edit, with the last body
        quick.show(repository.full_name, client, body(f"burst {n}"))
    await asyncio.sleep(0.3)
    await quick.close()
    assert sum(1 for m, _, _ in sim.calls if m == "PATCH") == 1
    assert "burst 4" in (repository.issues[first["number"]].body or "")


async def test_three_pinned_issues_leave_it_unpinned_and_say_so(stage, caplog):
    sim, repository, clients, installation_id = stage
    pinned = [sim.open_issue(repository, by="mona", title=f"Pinned {n}") for n in range(3)]
    sim.graphql.pinned[repository.id] = [issue.id for issue in pinned]
    gh = await clients.installation(installation_id)
    with caplog.at_level(logging.WARNING, logger="bot.project.status_publish"):
        issue = await StatusIssues(APP_ID).publish(gh, repository.full_name, body("x"))
    assert issue["title"] == TITLE
    assert issue["id"] not in sim.graphql.pinned[repository.id]
    [record] = [r for r in caplog.records if r.getMessage() == "the status issue stays unpinned"]
    assert "3 pinned" in record.reason  # type: ignore[attr-defined]
