"""Fixtures: local model servers for the real SDKs (a pytest plugin, see tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.llm.servers import AnthropicServer, OpenAIServer


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
