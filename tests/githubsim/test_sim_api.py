"""The stand-in behaves as GitHub does for the calls the bot makes, held to GitHub's description."""

from __future__ import annotations

import datetime

import aiohttp
import gidgethub
import pytest
from gidgethub.aiohttp import GitHubAPI

from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients
from tests.support import APP_ID, MANIFEST


@pytest.fixture
async def world(make_sim, app_private_key):
    sim = await make_sim()
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=MANIFEST,
    )
    repository = sim.create_repository("octo-org/hello")
    installation = sim.install(app, [repository], by="octo-admin")
    return sim, app, repository, installation


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def clients(sim, session, key):
    return GitHubClients(session, api_url=sim.url, credentials=AppCredentials(str(APP_ID), key))


def person(sim, session, login):
    return GitHubAPI(session, "tests", oauth_token=sim.user_token(login), base_url=sim.url)


async def test_the_app_gets_an_installation_token_and_lists_its_repositories(
    world, session, app_private_key
):
    sim, _app, _repository, installation = world
    gh = await clients(sim, session, app_private_key).installation(installation.id)
    names = [
        r["full_name"]
        async for r in gh.getiter("/installation/repositories", iterable_key="repositories")
    ]
    assert names == ["octo-org/hello"]


async def test_a_jwt_signed_with_another_key_is_refused(world, session):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    sim, *_ = world
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(gidgethub.BadRequest) as raised:
        await clients(sim, session, other).app().getitem("/app")
    assert raised.value.status_code == 401


async def test_installation_tokens_expire(make_sim, app_private_key, session):
    sim = await make_sim(token_lifetime=datetime.timedelta(seconds=-1))
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=MANIFEST,
    )
    installation = sim.install(app, [sim.create_repository("o/r")], by="o")
    gh = await clients(sim, session, app_private_key).installation(installation.id)
    with pytest.raises(gidgethub.BadRequest) as raised:
        await gh.getitem("/repos/o/r")
    assert raised.value.status_code == 401


async def test_a_new_repository_has_githubs_default_labels_and_lists_them_in_pages(world, session):
    sim, _app, _repository, _ = world
    gh = person(sim, session, "octo-org")  # the owner
    first = await gh.getitem("/repos/octo-org/hello/labels?per_page=4")
    everything = [lb["name"] async for lb in gh.getiter("/repos/octo-org/hello/labels?per_page=4")]
    assert len(first) == 4 and len(everything) == 9
    assert "good first issue" in everything


async def test_what_is_created_is_listed_and_sent_as_a_webhook(world, session):
    sim, _app, repository, _installation = world
    sim.grant(repository, "maintainer", "maintain")
    gh = person(sim, session, "maintainer")
    issue = await gh.post(
        "/repos/octo-org/hello/issues", data={"title": "Crash on start", "labels": ["bug"]}
    )
    listed = await gh.getitem("/repos/octo-org/hello/issues")
    assert [i["number"] for i in listed] == [issue["number"]]
    assert [lb["name"] for lb in listed[0]["labels"]] == ["bug"]
    sent = [(d.event, d.action) for d in sim.webhooks.deliveries]
    assert ("issues", "opened") in sent and ("issues", "labeled") in sent


async def test_conditional_requests_get_304_and_do_not_count(world, session):
    sim, *_ = world
    token = sim.user_token("octo-org")
    headers = {"Authorization": f"token {token}"}
    async with session.get(f"{sim.url}/repos/octo-org/hello", headers=headers) as first:
        etag, remaining = first.headers["ETag"], int(first.headers["X-RateLimit-Remaining"])
    async with session.get(
        f"{sim.url}/repos/octo-org/hello", headers={**headers, "If-None-Match": etag}
    ) as again:
        assert again.status == 304
        assert int(again.headers["X-RateLimit-Remaining"]) == remaining


async def test_a_body_over_65536_characters_is_refused(world, session):
    sim, *_ = world
    gh = person(sim, session, "octo-org")
    issue = await gh.post("/repos/octo-org/hello/issues", data={"title": "t"})
    with pytest.raises(gidgethub.BadRequest) as raised:
        await gh.post(issue["comments_url"], data={"body": "x" * 65_537})
    assert raised.value.status_code == 422
    assert "too long" in str(raised.value.errors)


async def test_a_permission_the_manifest_does_not_grant_is_refused_with_githubs_403(
    make_sim, app_private_key, session, tmp_path
):
    manifest = tmp_path / "app.yml"
    manifest.write_text("name: Reader\ndefault_permissions:\n  metadata: read\n  issues: read\n")
    sim = await make_sim()
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=manifest,
    )
    installation = sim.install(app, [sim.create_repository("o/r")], by="o")
    gh = await clients(sim, session, app_private_key).installation(installation.id)
    with pytest.raises(gidgethub.BadRequest) as raised:
        await gh.post("/repos/o/r/labels", data={"name": "x", "color": "ffffff"})
    assert raised.value.status_code == 403
    assert "not accessible by integration" in str(raised.value)


async def test_an_invalid_request_is_refused_with_the_schema_error(make_sim, session):
    sim = await make_sim(conformance_failures_expected=True)
    sim.create_repository("o/r")
    gh = person(sim, session, "o")
    with pytest.raises(gidgethub.BadRequest) as raised:
        await gh.post("/repos/o/r/labels", data={"colour": "ffffff"})
    assert raised.value.status_code == 422
    assert "'name' is a required property" in str(raised.value)
    assert [v.where for v in sim.violations] == ["request"]


async def test_issues_are_listed_with_githubs_filters(world, session):
    sim, _app, repository, _ = world
    sim.grant(repository, "maya", "write")
    gh = person(sim, session, "maya")
    for n in range(4):
        sim.open_issue(
            repository,
            by="maya" if n % 2 else "rita",
            title=f"i{n}",
            labels=("bug",) if n < 2 else (),
        )
    await gh.patch("/repos/octo-org/hello/issues/1", data={"state": "closed"})

    async def numbers(query: str) -> list[int]:
        return [i["number"] async for i in gh.getiter(f"/repos/octo-org/hello/issues?{query}")]

    assert await numbers("") == [4, 3, 2]  # open only, newest first
    assert await numbers("state=all&direction=asc") == [1, 2, 3, 4]
    assert await numbers("state=closed") == [1]
    assert await numbers("labels=bug") == [2]
    assert await numbers("creator=maya&state=all") == [4, 2]


async def test_closing_locking_and_editing_are_announced(world, session):
    sim, _app, repository, _ = world
    gh = person(sim, session, "octo-org")
    sim.open_issue(repository, by="octo-org", title="old")
    await gh.patch("/repos/octo-org/hello/issues/1", data={"title": "new", "state": "closed"})
    await gh.put("/repos/octo-org/hello/issues/1/lock", data={"lock_reason": "resolved"})
    sent = [(d.event, d.action) for d in sim.webhooks.deliveries][-3:]
    assert sent == [("issues", "edited"), ("issues", "closed"), ("issues", "locked")]
    edited = sim.webhooks.deliveries[-3].payload
    assert edited["changes"] == {"title": {"from": "old"}}
    issue = await gh.getitem("/repos/octo-org/hello/issues/1")
    assert (issue["state"], issue["locked"], issue["active_lock_reason"]) == (
        "closed",
        True,
        "resolved",
    )


async def test_a_locked_issue_takes_comments_only_from_collaborators(world, session):
    sim, _app, repository, _ = world
    sim.open_issue(repository, by="octo-org", title="heated")
    await person(sim, session, "octo-org").put("/repos/octo-org/hello/issues/1/lock", data={})
    with pytest.raises(gidgethub.BadRequest) as raised:
        await person(sim, session, "passerby").post(
            "/repos/octo-org/hello/issues/1/comments", data={"body": "me too"}
        )
    assert raised.value.status_code == 403


async def test_renaming_and_deleting_labels_reaches_issues_and_webhooks(world, session):
    sim, _app, repository, _ = world
    gh = person(sim, session, "octo-org")
    sim.open_issue(repository, by="octo-org", title="t", labels=("bug",))
    await gh.patch("/repos/octo-org/hello/labels/bug", data={"new_name": "defect"})
    assert [lb["name"] for lb in await gh.getitem("/repos/octo-org/hello/issues/1/labels")] == [
        "defect"
    ]
    await gh.delete("/repos/octo-org/hello/labels/defect")
    assert await gh.getitem("/repos/octo-org/hello/issues/1/labels") == []
    label_events = [
        (d.action, d.payload.get("changes")) for d in sim.webhooks.deliveries if d.event == "label"
    ]
    assert label_events == [("edited", {"name": {"from": "bug"}}), ("deleted", None)]


async def test_people_without_push_access_cannot_manage_labels(world, session):
    sim, *_ = world
    with pytest.raises(gidgethub.BadRequest) as raised:
        await person(sim, session, "passerby").post(
            "/repos/octo-org/hello/labels", data={"name": "mine", "color": "ffffff"}
        )
    assert raised.value.status_code == 403


async def test_private_repositories_are_invisible_to_strangers(make_sim, session):
    sim = await make_sim()
    sim.create_repository("octo-org/secret", private=True)
    with pytest.raises(gidgethub.BadRequest) as raised:
        await person(sim, session, "passerby").getitem("/repos/octo-org/secret/issues")
    assert raised.value.status_code == 404


async def test_a_spent_quota_is_refused_until_it_resets(make_sim, session):
    sim = await make_sim(rate_limit=2)
    sim.create_repository("o/r")
    headers = {"Authorization": f"token {sim.user_token('o')}"}
    answers = []
    for _ in range(3):
        async with session.get(f"{sim.url}/repos/o/r", headers=headers) as response:
            answers.append((response.status, response.headers["X-RateLimit-Remaining"]))
            body = await response.json()
    assert answers == [(200, "1"), (200, "0"), (403, "0")]
    assert body["message"] == f"API rate limit exceeded for user ID {sim.state.user('o').id}."
    assert "X-RateLimit-Reset" in response.headers


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/repos/o/r/frobnicate"), ("PUT", "/repos/o/r/issues/1/comments")]
)
async def test_a_call_github_does_not_have_is_404_and_a_violation(make_sim, session, method, path):
    sim = await make_sim(conformance_failures_expected=True)
    sim.create_repository("o/r")
    headers = {"Authorization": f"token {sim.user_token('o')}"}
    async with session.request(method, sim.url + path, headers=headers, json={}) as response:
        assert response.status == 404
    [violation] = sim.violations
    assert violation.where == "request" and "not found" in violation.error
