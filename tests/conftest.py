"""Shared fixtures: settings in a temporary data dir, and the HTTP app with injectable routers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from gidgethub import routing

from bot.settings import Settings
from bot.web.app import create_app
from tests.support import SECRET

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
