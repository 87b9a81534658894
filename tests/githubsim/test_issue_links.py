"""Assignees and sub-issues, over REST and as people, with their webhooks."""

from __future__ import annotations

import aiohttp
import pytest

from tests.githubsim.test_git_http import manifest_with
from tests.githubsim.test_pulls import call
from tests.sim_support import app_on_hello


@pytest.fixture
async def world(make_sim, app_private_key, tmp_path):
    sim = await make_sim()
    _app, repository, installation = app_on_hello(
        sim, app_private_key, manifest=manifest_with(tmp_path, "sub_issues")
    )
    token = sim.auth.installation_token(installation).value
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {token}"},
    ) as session:
        yield sim, repository, session


async def test_assignees_are_collaborators_and_announced(world):
    sim, repository, session = world
    issue = sim.open_issue(repository, by="mona", title="Story")
    answer = await call(
        session,
        "POST",
        f"issues/{issue.number}/assignees",
        {"assignees": ["mona", "stranger"]},
        201,
    )
    assert [a["login"] for a in answer["assignees"]] == ["mona"]  # strangers silently ignored
    await call(session, "GET", "assignees/mona", status=204)
    await call(session, "GET", "assignees/stranger", status=404)
    sim.grant(repository, "riley", "read")
    sim.assign(repository, issue.number, by="riley", logins=["riley"])  # no push access: ignored
    answer = await call(
        session, "DELETE", f"issues/{issue.number}/assignees", {"assignees": ["mona"]}
    )
    assert answer["assignees"] == []
    await sim.settle()
    actions = [d.payload["action"] for d in sim.webhooks.deliveries if d.event == "issues"]
    assert actions == ["opened", "assigned", "unassigned"]


async def test_sub_issues_are_added_listed_and_removed(world):
    sim, repository, session = world
    parent = sim.open_issue(repository, by="mona", title="Epic")
    child = sim.open_issue(repository, by="mona", title="Story")
    other = sim.open_issue(repository, by="mona", title="Other epic")
    answer = await call(
        session, "POST", f"issues/{parent.number}/sub_issues", {"sub_issue_id": child.id}, 201
    )
    assert answer["sub_issues_summary"]["total"] == 1
    listed = await call(session, "GET", f"issues/{parent.number}/sub_issues")
    assert [i["number"] for i in listed] == [child.number]
    body = {"sub_issue_id": child.id}
    await call(session, "POST", f"issues/{other.number}/sub_issues", body, 422)  # one parent
    await call(
        session, "POST", f"issues/{parent.number}/sub_issues", {"sub_issue_id": parent.id}, 422
    )
    await call(session, "DELETE", f"issues/{parent.number}/sub_issue", body)
    assert await call(session, "GET", f"issues/{parent.number}/sub_issues") == []
    sim.add_sub_issue(repository, other.number, child.number, by="mona")
    await sim.settle()
    actions = [d.payload["action"] for d in sim.webhooks.deliveries if d.event == "sub_issues"]
    assert actions == [
        "sub_issue_added",
        "parent_issue_added",
        "sub_issue_removed",
        "parent_issue_removed",
        "sub_issue_added",
        "parent_issue_added",
    ]
