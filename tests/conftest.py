"""Shared fixtures: settings, the HTTP app with injectable routers, and the product's handlers
dispatched against the GitHub stand-in."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from gidgethub import routing, sansio

from bot.commands.builtin import default_registry
from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients, WritePacing
from bot.handlers import default_routers
from bot.handlers.services import Services
from bot.intake.dispatcher import HandlerContext
from bot.intake.routing import EventRouter
from bot.settings import Settings
from bot.web.app import create_app
from githubsim import GitHubSim
from githubsim.deliveries import Delivery
from githubsim.model import App, Repository
from tests.support import APP_ID, MANIFEST, SECRET

pytest_plugins = ["tests.sim_support", "tests.llm_servers"]

#: The longest tests, started first: with several workers (pytest-xdist hands out tests in
#: their order, one at a time with scripts/test's --maxschedchunk=1) none of them is left to
#: run alone at the end.
LONGEST_FIRST = ("tests/e2e/test_demo.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        if item.nodeid.startswith(LONGEST_FIRST):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: each group keeps its files' order


ClientFactory = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(webhook_secret=SECRET, data_dir=tmp_path / "data", retry_base_seconds=0.01)


@pytest.fixture
def make_client(
    aiohttp_client: ClientFactory, settings: Settings
) -> Callable[..., Awaitable[TestClient]]:  # type: ignore[type-arg]
    async def make(routers: Sequence[routing.Router] = (), **overrides: object) -> TestClient:  # type: ignore[type-arg]
        return await aiohttp_client(
            create_app(settings.with_overrides(**overrides), routers=list(routers))
        )

    return make


@dataclasses.dataclass
class Hub:
    """The product's handlers wired to the GitHub stand-in, with deliveries handed over by
    the test (so each one's outcome, even a raised error, is the test's to see)."""

    sim: GitHubSim
    app: App
    repository: Repository
    clients: GitHubClients
    slept: list[float]
    router: EventRouter
    services: Services

    def last(self, event: str, action: str | None = None) -> Delivery:
        return next(
            d
            for d in reversed(self.sim.webhooks.deliveries)
            if d.event == event and action in (None, d.action)
        )

    async def dispatch(self, delivery: Delivery, delivery_id: str | None = None) -> None:
        """Hand a delivery to the product's handlers, as the dispatcher would."""
        payload = delivery.payload
        ctx = HandlerContext(
            delivery_id or delivery.id,
            1,
            (payload.get("repository") or {}).get("full_name"),
            (payload.get("installation") or {}).get("id"),
            self.services,
        )
        event = sansio.Event(payload, event=delivery.event, delivery_id=ctx.delivery_id)
        await self.router.dispatch(event, ctx=ctx)

    def bot_comments(self, number: int, repository: Repository | None = None) -> list[str]:
        comments = self.sim.comments_on(repository or self.repository, number)
        return [c.body for c in comments if c.user.login == self.app.bot.login]

    def calls(self, method: str | None = None, containing: str = "") -> int:
        return sum(1 for m, path, _ in self.sim.calls if method in (None, m) and containing in path)


@pytest.fixture
async def hub(make_sim, app_private_key) -> AsyncIterator[Hub]:
    sim = await make_sim()
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=None,  # the test hands deliveries over itself
        webhook_secret=SECRET,
        manifest=MANIFEST,
    )
    repository = sim.create_repository("octo-org/hello")
    sim.grant(repository, "maya", "maintain")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with aiohttp.ClientSession() as session:
        clients = GitHubClients(
            session,
            api_url=sim.url,
            credentials=AppCredentials(str(APP_ID), app_private_key),
            pacing=WritePacing(0.0),
            sleep=sleep,
        )
        services = Services(github=clients, app_id=APP_ID, commands=default_registry())
        yield Hub(sim, app, repository, clients, slept, EventRouter(*default_routers()), services)
