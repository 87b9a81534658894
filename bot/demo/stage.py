"""The demo's stage: the local GitHub, the App, a repository holding the seed project and its
BMAD install, the model, and the orchestrator itself, all on 127.0.0.1 in one process (the
orchestrator's runs in its own worker processes, as in production)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import git
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.demo.model import DemoModel
from bot.demo.people import Person
from bot.github.auth import AppCredentials
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN, probe
from bot.settings import Settings
from bot.web.app import create_app
from githubsim import GitHubSim
from githubsim.conformance import RestDescription, WebhookDescription
from githubsim.graphql_api import GraphQLDescription
from githubsim.model import App, Repository

SEED = Path(__file__).resolve().parents[1] / "demo_seed"
REPOSITORY = "demo-org/todo-app"
MAINTAINER, READER = "mona", "riley"
APP_ID = 1001
#: The seed project's tests, as its `.github/orchestrator.yml` names them.
TEST_COMMAND = "python3 -m unittest discover -s tests"
#: Variables of the server's own environment that never reach the demo's run workers.
_PRIVATE = ("GITHUB_", "ORCHESTRATOR_", "ANTHROPIC_", "OPENAI_", "AO_")


def find_manifest() -> Path | None:
    """The App manifest (app.yml) of the source checkout or the current directory."""
    for candidate in (Path(__file__).resolve().parents[2] / "app.yml", Path.cwd() / "app.yml"):
        if candidate.is_file():
            return candidate
    return None


def new_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def seed_remote(root: Path, full_name: str) -> Path:
    """A bare repository on disk holding the seed project, as the repository's git remote."""
    remote = root / "git" / f"{full_name}.git"
    if remote.exists():  # a data dir used before keeps its repository
        return remote
    work = root / "seed-work"
    repo = git.Repo.init(work, initial_branch="main")
    for source in sorted(SEED.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            target = work / source.relative_to(SEED)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    repo.git.add(A=True)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Demo Seed")
        config.set_value("user", "email", "seed@demo.invalid")
    repo.index.commit("Seed project: todo-app")
    git.Repo.clone_from(work, remote, bare=True)
    return remote


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rest_description_cache() -> tuple[Path, Path, Path] | None:
    """GitHub's descriptions (REST, webhooks, GraphQL), if the test cache has them
    (scripts/prefetch-npm puts them in $ORCHESTRATOR_TEST_CACHE, by default ./.cache/npm)."""
    cache = Path(os.environ.get("ORCHESTRATOR_TEST_CACHE") or Path.cwd() / ".cache" / "npm")
    rest = cache / "@octokit__openapi@23.0.2" / "generated" / "api.github.com.json"
    hooks = cache / "@octokit__openapi-webhooks@12.1.0" / "generated" / "api.github.com.json"
    schema = cache / "@octokit__graphql-schema@15.26.1" / "schema.graphql"
    found = (rest, hooks, schema)
    return found if all(path.is_file() for path in found) else None


@dataclasses.dataclass
class Stage:
    """Everything the demo runs: the local GitHub, the App, the repository, the model, the
    orchestrator, and the people who act on GitHub."""

    sim: GitHubSim
    app: App
    repository: Repository
    bot_url: str
    data_dir: Path
    remote: Path
    checked: bool
    model: DemoModel
    people: dict[str, Person]
    #: Why the stories' tests run unisolated (None: in bubblewrap, as in production).
    isolation: str | None = None

    @property
    def clone_url(self) -> str:
        return f"{self.sim.url}/{self.repository.full_name}.git"

    def issue_url(self, number: int) -> str:
        return f"{self.sim.url}/_sim/{self.repository.full_name}/issues/{number}"

    def pull_url(self, number: int) -> str:
        return f"{self.sim.url}/_sim/{self.repository.full_name}/pull/{number}"


@contextlib.asynccontextmanager
async def staged(
    data_dir: Path, manifest: Path, port: int, model: DemoModel
) -> AsyncIterator[Stage]:
    descriptions = await asyncio.to_thread(_descriptions)
    rest, hooks, schema = descriptions or (None, None, None)
    # the repository's bare git lives in the data dir, served by the local GitHub over HTTP
    sim = GitHubSim(rest=rest, webhooks=hooks, graphql=schema, git_root=data_dir / "git")
    await sim.start()
    secret, key = secrets.token_hex(20), new_private_key()
    bot_url = f"http://127.0.0.1:{port}"
    app = sim.register_app(
        app_id=APP_ID,
        private_key=key,
        webhook_url=f"{bot_url}/webhooks",
        webhook_secret=secret,
        manifest=manifest,
    )
    repository = sim.create_repository(REPOSITORY, description="A small command-line to-do list")
    sim.grant(repository, MAINTAINER, "admin")
    sim.grant(repository, READER, "read")
    remote = await asyncio.to_thread(seed_remote, data_dir, REPOSITORY)  # git off the loop
    isolation = await asyncio.to_thread(_isolation)
    # The stories' tests run in bubblewrap where it can isolate; without it only the scripted
    # model's code (the demo's own) runs, unisolated; a real model's code never does.
    unsafe = isolation is not None and model.scripted
    if model.scripted:  # the repository's own CI, as GitHub's runners would run it
        sim.set_ci(repository, TEST_COMMAND)
    settings = Settings(
        webhook_secret=secret,
        github_api_url=sim.url,
        data_dir=data_dir / "orchestrator",
        port=port,
        app_id=str(APP_ID),
        write_interval_seconds=0.0,  # bursts, within GitHub's limit of writes a minute
        retry_base_seconds=0.2,
        default_model=model.spec,
        sandbox_mode="unsafe-host" if unsafe else "bubblewrap",
    )
    workers = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE)}
    workers |= dict(model.environ) | {
        "ORCHESTRATOR_SANDBOX": "unsafe-host",  # a planning run runs no repository code
        "ORCHESTRATOR_LOG_FILE": str(data_dir / "orchestrator.log"),
    }
    server = create_app(settings, credentials=AppCredentials(str(APP_ID), key), environ=workers)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as session:
            people = {
                login: Person(login, sim.user_token(login), sim.url, REPOSITORY, session)
                for login in (MAINTAINER, READER)
            }
            yield Stage(sim, app, repository, bot_url, data_dir, remote,
                        rest is not None, model, people, isolation)  # fmt: skip
    finally:
        await runner.cleanup()
        await sim.stop()


def _isolation() -> str | None:
    """None where bubblewrap isolates repository code here, else why it cannot."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    return probe(bwrap, DEFAULT_TOOLCHAIN)


def _descriptions() -> tuple[RestDescription, WebhookDescription, GraphQLDescription] | None:
    """GitHub's descriptions, built (a few seconds) when the cache has them."""
    paths = rest_description_cache()
    if paths is None:
        return None
    return RestDescription(paths[0]), WebhookDescription(paths[1]), GraphQLDescription(paths[2])
