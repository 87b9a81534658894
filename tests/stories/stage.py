"""The stage the story tests and the bench share: the local GitHub with our App on a small
Python project, the App's clone and worktrees, the scripted model behind the real SDK, the
real sandbox."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp

from bot.git.remote import Identity, Remote
from bot.git.worktrees import Worktrees, repository_dirs
from bot.github.auth import AppCredentials
from bot.github.client import GitHubClients, WritePacing
from bot.llm.anthropic_client import AnthropicClient
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable
from bot.sandbox.runner import Sandbox
from bot.stories.compose import Means
from bot.stories.deliver import Place
from githubsim import GitHubSim
from githubsim.model import Repository
from tests.sim_support import app_on_hello
from tests.stories.project import FILES, TEST_COMMAND, ScriptedModel
from tests.support import APP_ID

MODEL = "claude-haiku-4-5"


@dataclasses.dataclass
class Stage:
    sim: GitHubSim
    repository: Repository
    place: Place
    means: Means
    model: ScriptedModel
    data_dir: Path
    session: aiohttp.ClientSession
    clients: GitHubClients | None = None
    installation_id: int = 0

    async def close(self) -> None:
        await self.session.close()

    async def pulls(self) -> list[dict[str, object]]:
        url = f"/repos/{self.repository.full_name}/pulls?state=all"
        return [dict(p) async for p in self.place.gh.getiter(url)]

    async def on_github(self, branch: str, path: str) -> str:
        return await self.sim.git.git(self.repository, "show", f"{branch}:{path}")

    async def subjects(self, branch: str) -> list[str]:
        """`author|subject` of the branch's commits on GitHub since main, oldest first."""
        out = await self.sim.git.git(
            self.repository, "log", "--reverse", "--format=%an|%s", f"main..{branch}"
        )
        return out.strip().splitlines()


async def make_stage(
    sim: GitHubSim,
    private_key: str,
    model: ScriptedModel,
    model_url: str,
    sandbox: Sandbox,
    data_dir: Path,
    *,
    private: bool = False,
    files: dict[str, str | bytes | None] | None = None,
) -> Stage:
    """The project pushed by @mona (its CI runs its tests on every PR head), the App's clone."""
    app, repository, installation = app_on_hello(sim, private_key)
    if private:
        repository.private = True  # on GitHub Free: no draft pull requests
    await sim.push(repository, by="mona", files=files or FILES, message="A calculator with stories")
    sim.set_ci(repository, TEST_COMMAND)
    session = aiohttp.ClientSession()
    clients = GitHubClients(
        session,
        api_url=sim.url,
        credentials=AppCredentials(str(APP_ID), private_key),
        pacing=WritePacing(0.0),
    )
    gh = await clients.installation(installation.id)

    async def token() -> str:
        return await clients.tokens.token(clients.app(), installation.id)

    clone, root = repository_dirs(data_dir, repository.full_name)
    remote = Remote(clone, f"{sim.url}/{repository.full_name}.git", token)
    await remote.sync()
    llm = Metered(
        AnthropicClient(MODEL, api_key="k", base_url=model_url), PriceTable.load(), CostLedger()
    )
    place = Place(
        gh,
        await gh.getitem(f"/repos/{repository.full_name}"),
        remote,
        Worktrees(clone, root),
        Identity.for_app(app.slug, app.bot.id),
    )
    means = Means(lambda _spec: llm, sandbox)
    return Stage(sim, repository, place, means, model, data_dir, session, clients, installation.id)
