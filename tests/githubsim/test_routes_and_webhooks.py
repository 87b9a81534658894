"""Every route the stand-in serves is one of GitHub's; every change it makes is announced as
GitHub would announce it, signed, and in a shape GitHub's webhook description allows."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
from aiohttp import web

from githubsim.deliveries import WebhookFaults
from tests.support import APP_ID, MANIFEST


def shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


async def test_every_route_served_is_in_githubs_description(make_sim, rest_description):
    sim = await make_sim()
    described = {
        (method.upper(), shape(path))
        for path, operations in rest_description.document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = {(route.method, shape(route.path)) for route in sim.route_table()}
    assert served - described == set()
    assert len(served) >= 30


class Receiver:
    """A stand-in for the bot's webhook endpoint that records what arrives."""

    def __init__(self, status: int = 202) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = status

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    def events(self) -> list[tuple[str, str | None]]:
        return [(h["X-GitHub-Event"], json.loads(b).get("action")) for h, b in self.received]


@pytest.fixture
async def receiver(aiohttp_server):
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks", receiver.handle)
    receiver.server = await aiohttp_server(app)
    return receiver


async def setup(make_sim, receiver, key, **options):
    sim = await make_sim(**options)
    app = sim.register_app(
        app_id=APP_ID,
        private_key=key,
        webhook_secret="hush",
        webhook_url=str(receiver.server.make_url("/webhooks")),
        manifest=MANIFEST,
    )
    repository = sim.create_repository("octo-org/hello")
    return sim, app, repository


async def test_people_acting_produce_the_webhooks_github_sends(make_sim, receiver, app_private_key):
    sim, app, repository = await setup(make_sim, receiver, app_private_key)
    installation = sim.install(app, [repository], by="octo-admin")
    issue = sim.open_issue(repository, by="alice", title="Hello", labels=("bug",))
    sim.comment(repository, issue.number, by="alice", body="/ao help")
    sim.remove_label(repository, issue.number, by="alice", name="bug")
    other = sim.create_repository("octo-org/other")
    sim.state.add_to_installation(installation, [other], sender=sim.state.user("octo-admin"))
    sim.uninstall(installation, by="octo-admin")
    await sim.settle()
    assert receiver.events() == [
        ("installation", "created"),
        ("issues", "opened"),
        ("issues", "labeled"),
        ("issue_comment", "created"),
        ("issues", "unlabeled"),
        ("installation_repositories", "added"),
        ("installation", "deleted"),
    ]
    for headers, body in receiver.received:
        expected = "sha256=" + hmac.new(b"hush", body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == expected
    comment = json.loads(receiver.received[3][1])
    assert comment["comment"]["body"] == "/ao help"
    assert comment["installation"]["id"] == installation.id
    assert comment["comment"]["user"]["login"] == "alice"


async def test_repositories_outside_the_installation_send_nothing(
    make_sim, receiver, app_private_key
):
    sim, app, repository = await setup(make_sim, receiver, app_private_key)
    sim.install(app, [repository], by="octo-admin")
    elsewhere = sim.create_repository("octo-org/private-stuff", private=True)
    sim.open_issue(elsewhere, by="octo-org", title="not for the bot")
    await sim.settle()
    assert receiver.events() == [("installation", "created")]


async def test_dropped_duplicated_and_reordered_deliveries_on_demand(
    make_sim, receiver, app_private_key
):
    sim, app, repository = await setup(
        make_sim, receiver, app_private_key, webhook_faults=WebhookFaults(duplicate_rate=1.0)
    )
    sim.install(app, [repository], by="octo-admin")
    await sim.settle()
    ids = [h["X-GitHub-Delivery"] for h, _ in receiver.received]
    assert len(ids) == 2 and ids[0] == ids[1]  # a redelivery keeps its id

    sim.webhooks.faults.duplicate_rate = 0.0
    sim.webhooks.faults.drop_rate = 1.0
    sim.open_issue(repository, by="alice", title="lost")
    await sim.settle()
    assert len(receiver.received) == 2
    assert sim.webhooks.deliveries[-1].dropped

    sim.webhooks.faults.drop_rate = 0.0
    sim.webhooks.faults.reorder_rate = 1.0
    sim.comment(repository, 1, by="alice", body="first")
    sim.comment(repository, 1, by="alice", body="second")
    await sim.settle()
    bodies = [json.loads(b)["comment"]["body"] for _, b in receiver.received[2:]]
    assert bodies == ["second", "first"]


async def test_the_api_fails_on_demand_as_github_does(make_sim, receiver, app_private_key):
    import aiohttp

    sim, _app, _repository = await setup(make_sim, receiver, app_private_key)
    sim.faults.fail_next(502, 403)
    token = sim.user_token("octo-org")
    async with aiohttp.ClientSession(headers={"Authorization": f"token {token}"}) as session:
        async with session.get(f"{sim.url}/repos/octo-org/hello") as first:
            assert first.status == 502
        async with session.get(f"{sim.url}/repos/octo-org/hello") as second:
            assert second.status == 403 and second.headers["Retry-After"] == "1"
            assert "secondary rate limit" in (await second.json())["message"]
        async with session.get(f"{sim.url}/repos/octo-org/hello") as third:
            assert third.status == 200
