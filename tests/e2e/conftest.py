"""End to end: the real server as a subprocess, the GitHub stand-in, and people acting on it.

Tests drive flows only through what a person would do on GitHub and assert on what a person
would see there. Every request the bot makes is held to GitHub's REST description, every
webhook to GitHub's webhook description.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from githubsim import GitHubSim
from githubsim.model import App, Comment, Repository
from tests.runs.conftest import SlowModel
from tests.support import APP_ID, MANIFEST, ROOT

SECRET = "e2e-webhook-secret"
MODEL = "anthropic:claude-haiku-4-5"
BOT_LOGIN = "agent-orchestrator[bot]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class World:
    sim: GitHubSim
    app: App
    repository: Repository
    bot_url: str
    process: asyncio.subprocess.Process
    log_path: Path
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    async def start(self) -> None:
        """Start the server (again): a new process on the same port and data dir."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve",
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        port = int(self.env["ORCHESTRATOR_PORT"])
        async with aiohttp.ClientSession() as session:
            await self.until(lambda: _up(port))
            await self.until_idle(session)

    async def kill(self) -> None:
        """SIGKILL: the server gets no chance to finish anything."""
        self.process.kill()
        await self.process.wait()

    def bot_comments(self, number: int) -> list[Comment]:
        return [
            c for c in self.sim.comments_on(self.repository, number) if c.user.login == BOT_LOGIN
        ]

    async def until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait for something a person would see; fail with the bot's log if it never shows."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    if self.process.returncode is not None:
                        pytest.fail(f"the server exited:\n{self.log()}")
                    await asyncio.sleep(0.02)
        except TimeoutError:
            pytest.fail(f"it never happened; the server said:\n{self.log()[-4000:]}")

    async def quiet(self) -> None:
        """Every webhook answered and nothing left to do: what is on GitHub now is final."""
        async with aiohttp.ClientSession() as session:
            for _ in range(3):  # the bot's own writes send webhooks back to it
                await self.sim.settle()
                await self.until_idle(session)

    async def until_idle(self, session: aiohttp.ClientSession) -> None:
        async with asyncio.timeout(20):
            while True:
                try:
                    async with session.get(f"{self.bot_url}/readyz") as response:
                        body = await response.json()
                except aiohttp.ClientConnectionError:
                    # Not listening yet, though `_up` connected: seen once just after a kill
                    # (a connect from the port to itself, or another listener there briefly).
                    if self.process.returncode is not None:
                        pytest.fail(f"the server exited:\n{self.log()}")
                    await asyncio.sleep(0.02)
                    continue
                if body["queue_depth"] == 0 and body["in_flight"] == 0:
                    return
                await asyncio.sleep(0.02)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def world_env() -> dict[str, str]:
    """More environment for the server; a test module overrides it (models, runners)."""
    return {}


@pytest.fixture
def sim_options() -> dict[str, object]:
    """Options for the local GitHub; a test module overrides it (token lifetimes, faults)."""
    return {}


@pytest.fixture
async def world(
    make_sim, app_private_key, tmp_path, world_env, sim_options
) -> AsyncIterator[World]:
    sim: GitHubSim = await make_sim(**sim_options)
    port = free_port()
    bot_url = f"http://127.0.0.1:{port}"
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=f"{bot_url}/webhooks",
        webhook_secret=SECRET,
        manifest=MANIFEST,
    )
    repository = sim.create_repository("octo-org/hello")
    sim.grant(repository, "maya", "maintain")
    sim.grant(repository, "rita", "read")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ORCHESTRATOR_"))},
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": app_private_key,
        "GITHUB_API_URL": sim.url,
        "ORCHESTRATOR_PORT": str(port),
        "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
        "ORCHESTRATOR_WRITE_INTERVAL_SECONDS": "0",
        "ORCHESTRATOR_RETRY_BASE_SECONDS": "0.2",
        **world_env,
    }
    log_path = tmp_path / "server.log"
    log_path.write_bytes(b"")
    world = World(sim, app, repository, bot_url, None, log_path, env)  # type: ignore[arg-type]
    try:
        await world.start()
        yield world
    finally:
        process = world.process
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def _up(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def model_env(url: str) -> dict[str, str]:
    """The server's environment for runs on the local Anthropic-protocol server at `url`."""
    return {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "test-key",
        "ORCHESTRATOR_DEFAULT_MODEL": MODEL,
        "ORCHESTRATOR_ALLOWED_MODELS": MODEL,
        "ORCHESTRATOR_SANDBOX": "unsafe-host",  # no repository code runs in a planning run
    }


@pytest.fixture
async def slow_model(aiohttp_server) -> AsyncIterator[SlowModel]:
    """The Anthropic-protocol server answering after half a second: runs take long enough
    for a test to act in the middle of one."""
    server = SlowModel(delay=0.5)
    server.http = await aiohttp_server(server.app())
    server.url = str(server.http.make_url(""))
    yield server
    assert server.invalid == []
