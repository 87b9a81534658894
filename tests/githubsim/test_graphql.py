"""`POST /graphql`: pinIssue and unpinIssue, queries validated against GitHub's schema."""

from __future__ import annotations

import aiohttp
import pytest

from githubsim.render import node_id
from tests.githubsim.test_git_http import manifest_with
from tests.support import APP_ID

PIN = "mutation($id: ID!) { pinIssue(input: {issueId: $id}) { issue { number isPinned } } }"
UNPIN = "mutation($id: ID!) { unpinIssue(input: {issueId: $id}) { issue { number isPinned } } }"


@pytest.fixture
async def world(make_sim, app_private_key, graphql_description, tmp_path):
    sim = await make_sim(graphql=graphql_description, conformance_failures_expected=True)
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=manifest_with(tmp_path),
    )
    repository = sim.create_repository("octo-org/hello")
    installation = sim.install(app, [repository], by="octo-admin")
    token = sim.auth.installation_token(installation).value
    async with aiohttp.ClientSession(headers={"Authorization": f"bearer {token}"}) as session:
        yield sim, repository, session


async def graphql(sim, session, query, **variables):
    async with session.post(
        f"{sim.url}/graphql", json={"query": query, "variables": variables}
    ) as answer:
        assert answer.status == 200
        return await answer.json()


async def test_issues_are_pinned_three_at_most_and_unpinned(world):
    sim, repository, session = world
    issues = [sim.open_issue(repository, by="octo-org", title=f"t{n}") for n in range(4)]
    ids = [node_id("Issue", i.id) for i in issues]
    for n in range(3):
        answer = await graphql(sim, session, PIN, id=ids[n])
        assert answer["data"]["pinIssue"]["issue"] == {"number": issues[n].number, "isPinned": True}
    fourth = await graphql(sim, session, PIN, id=ids[3])
    assert fourth["data"]["pinIssue"] is None
    assert fourth["errors"][0]["type"] == "UNPROCESSABLE"
    assert "more than 3 pinned issues" in fourth["errors"][0]["message"]
    answer = await graphql(sim, session, UNPIN, id=ids[0])
    assert answer["data"]["unpinIssue"]["issue"]["isPinned"] is False
    assert "errors" not in await graphql(sim, session, PIN, id=ids[3])
    await sim.settle()
    actions = [d.payload["action"] for d in sim.webhooks.deliveries if d.event == "issues"]
    assert actions[4:] == ["pinned", "pinned", "pinned", "unpinned", "pinned"]
    assert sim.violations == []


async def test_a_query_the_schema_refuses_is_refused_and_recorded(world):
    sim, repository, session = world
    issue = sim.open_issue(repository, by="octo-org", title="t")
    wrong = "mutation($id: ID!) { pinIssue(input: {issue: $id}) { issue { number } } }"
    answer = await graphql(sim, session, wrong, id=node_id("Issue", issue.id))
    assert "data" not in answer and "issueId" in answer["errors"][0]["message"]
    assert [v.what for v in sim.violations] == ["POST /graphql"]
    sim.grant(repository, "riley", "read")
    async with aiohttp.ClientSession(
        headers={"Authorization": f"token {sim.user_token('riley')}"}
    ) as riley:
        refused = await graphql(sim, riley, PIN, id=node_id("Issue", issue.id))
    assert refused["errors"][0]["type"] == "FORBIDDEN"


PINNED = """query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) { pinnedIssues(first: 3) { nodes { issue { number } } } }
}"""


async def test_a_repositorys_pinned_issues_are_read_in_pin_order(world):
    sim, repository, session = world
    issues = [sim.open_issue(repository, by="octo-org", title=f"t{n}") for n in range(3)]
    for issue in (issues[2], issues[0]):
        await graphql(sim, session, PIN, id=node_id("Issue", issue.id))
    answer = await graphql(sim, session, PINNED, owner="octo-org", name="hello")
    nodes = answer["data"]["repository"]["pinnedIssues"]["nodes"]
    assert [n["issue"]["number"] for n in nodes] == [issues[2].number, issues[0].number]
    missing = await graphql(sim, session, PINNED, owner="octo-org", name="nope")
    assert missing["data"]["repository"] is None and missing["errors"][0]["type"] == "NOT_FOUND"
    assert sim.violations == []


READY = (
    "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) "
    "{ pullRequest { number isDraft } } }"
)


async def test_a_draft_pull_request_is_marked_ready_for_review(world):
    sim, repository, session = world
    await sim.push(repository, by="octo-org", files={"a.txt": "a\n"}, message="First")
    await sim.push(repository, by="octo-org", files={"b.txt": "b\n"}, message="B", branch="b")
    async with session.post(
        f"{sim.url}/repos/{repository.full_name}/pulls",
        json={"title": "B", "head": "b", "base": "main", "draft": True},
    ) as answer:
        assert answer.status == 201
        opened = await answer.json()
    assert opened["draft"] is True
    ready = await graphql(sim, session, READY, id=opened["node_id"])
    assert ready["data"]["markPullRequestReadyForReview"]["pullRequest"] == {
        "number": opened["number"],
        "isDraft": False,
    }
    again = await graphql(sim, session, READY, id=opened["node_id"])  # not a draft: no change
    assert again["data"]["markPullRequestReadyForReview"]["pullRequest"]["isDraft"] is False
    async with session.get(f"{sim.url}/repos/{repository.full_name}/pulls/{opened['number']}") as a:
        assert (await a.json())["draft"] is False
    await sim.settle()
    actions = [d.payload["action"] for d in sim.webhooks.deliveries if d.event == "pull_request"]
    assert actions.count("ready_for_review") == 1
    missing = await graphql(sim, session, READY, id=node_id("PullRequest", 999_999))
    assert missing["errors"][0]["type"] == "NOT_FOUND"
