"""Fixtures: local model servers for the real SDKs (a pytest plugin, see tests/conftest.py)."""

from __future__ import annotations

import pytest

from bot.localmodel.anthropic_wire import AnthropicServer
from bot.localmodel.openai_wire import OpenAIServer


@pytest.fixture
async def anthropic_server(aiohttp_server):
    server = AnthropicServer()
    server.http = await aiohttp_server(server.app())
    server.url = str(server.http.make_url(""))
    yield server
    assert server.invalid == [], "a request the Anthropic API would refuse"


@pytest.fixture
async def openai_server(aiohttp_server):
    server = OpenAIServer()
    server.http = await aiohttp_server(server.app())
    server.url = str(server.http.make_url("/v1"))
    yield server
    assert server.invalid == [], "a request the OpenAI API would refuse"


@pytest.fixture
async def openai_like(aiohttp_server):
    """Servers like the real OpenAI-compatible ones: `await openai_like(formats=…, …)`."""
    made: list[OpenAIServer] = []

    async def make(**options) -> OpenAIServer:
        server = OpenAIServer(**options)
        server.http = await aiohttp_server(server.app())
        server.url = str(server.http.make_url("/v1"))
        made.append(server)
        return server

    yield make
    for server in made:
        assert server.invalid == [], "a request the OpenAI API would refuse"
