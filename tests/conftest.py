"""Shared fixtures: settings, the HTTP app with injectable routers, and the fake GitHub."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from gidgethub import routing, sansio

from bot.commands.builtin import default_registry
from bot.handlers import default_routers
from bot.handlers.services import Services
from bot.intake.dispatcher import HandlerContext
from bot.intake.routing import EventRouter
from bot.settings import Settings
from bot.web.app import create_app
from tests.fake_github import APP_ID, FakeClients, FakeGitHub
from tests.support import SECRET, webhook_examples

pytest_plugins = ["tests.sim_support"]

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


@pytest.fixture
def fake_github() -> FakeClients:
    """The shared fake GitHub (gidgethub's client over in-memory state) for handler tests."""
    comment = next(p for name, p in webhook_examples()
                   if name == "issue_comment" and p["action"] == "created")["comment"]  # fmt: skip
    return FakeClients(FakeGitHub(copy.deepcopy(comment)))


@pytest.fixture
def dispatch(fake_github: FakeClients) -> Callable[..., Awaitable[None]]:
    """Dispatch a payload into the product's routers, as the dispatcher would."""
    router = EventRouter(*default_routers())
    services = Services(github=fake_github, app_id=APP_ID, commands=default_registry())  # type: ignore[arg-type]

    async def dispatch(event: str, payload: dict[str, Any], delivery_id: str = "d-1") -> None:
        installation = (payload.get("installation") or {}).get("id")
        repository = (payload.get("repository") or {}).get("full_name")
        ctx = HandlerContext(delivery_id, 1, repository, installation, services)
        await router.dispatch(sansio.Event(payload, event=event, delivery_id=delivery_id), ctx=ctx)

    return dispatch
