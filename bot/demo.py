"""`orchestrator demo`: the product on a local GitHub, with no account and no key.

It starts the GitHub stand-in, a repository with a small seed project (its git remote a bare
repository on disk), and the orchestrator itself with a fresh App identity; then people act
on the local GitHub the way they would on github.com, and the demo prints what each of them
would see. The flows grow with the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TextIO

import aiohttp
import git
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.github.auth import AppCredentials
from bot.github.labels import STORY_LABELS
from bot.logs import configure_logging
from bot.settings import Settings
from bot.web.app import create_app
from githubsim import GitHubSim
from githubsim.model import App, Comment, Repository

SEED = Path(__file__).parent / "demo_seed"
REPOSITORY = "demo-org/todo-app"
MAINTAINER, READER = "mona", "riley"
APP_ID = 1001
#: How long one step may take before the demo says it did not happen.
STEP_LIMIT_S = 30.0


class DemoFailed(Exception):
    """Something a person would have seen did not appear; the message says what."""


def find_manifest() -> Path | None:
    """The App manifest (app.yml) of the source checkout or the current directory."""
    for candidate in (Path(__file__).resolve().parents[1] / "app.yml", Path.cwd() / "app.yml"):
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


def rest_description_cache() -> tuple[Path, Path] | None:
    """GitHub's descriptions, if the test cache has them (scripts/prefetch-npm puts them in
    $ORCHESTRATOR_TEST_CACHE, by default ./.cache/npm)."""
    cache = Path(os.environ.get("ORCHESTRATOR_TEST_CACHE") or Path.cwd() / ".cache" / "npm")
    rest = cache / "@octokit__openapi@23.0.2" / "generated" / "api.github.com.json"
    hooks = cache / "@octokit__openapi-webhooks@12.1.0" / "generated" / "api.github.com.json"
    return (rest, hooks) if rest.is_file() and hooks.is_file() else None


@dataclasses.dataclass
class Stage:
    """Everything the demo runs: the local GitHub, the App, the repository, the orchestrator."""

    sim: GitHubSim
    app: App
    repository: Repository
    bot_url: str
    data_dir: Path
    remote: Path
    checked: bool

    def bot_comments(self, number: int) -> list[Comment]:
        return [
            c
            for c in self.sim.comments_on(self.repository, number)
            if c.user.login == self.app.bot.login
        ]

    @property
    def clone_url(self) -> str:
        return f"{self.sim.url}/{self.repository.full_name}.git"

    def issue_url(self, number: int) -> str:
        return f"{self.sim.url}/_sim/{self.repository.full_name}/issues/{number}"


async def until(what: str, predicate: Callable[[], bool]) -> None:
    """Wait for what a person would see on GitHub; the bot acts in its own time."""
    try:
        async with asyncio.timeout(STEP_LIMIT_S):
            while not predicate():  # noqa: ASYNC110 - the bot's effects arrive by HTTP, unsignalled
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise DemoFailed(f"{what} did not happen within {STEP_LIMIT_S:.0f} s") from None


@contextlib.asynccontextmanager
async def staged(data_dir: Path, manifest: Path, port: int) -> AsyncIterator[Stage]:
    descriptions = rest_description_cache()
    rest = hooks = None
    if descriptions is not None:
        with contextlib.suppress(ImportError):
            from githubsim.conformance import RestDescription, WebhookDescription

            rest, hooks = RestDescription(descriptions[0]), WebhookDescription(descriptions[1])
    # the repository's bare git lives in the data dir, served by the local GitHub over HTTP
    sim = GitHubSim(rest=rest, webhooks=hooks, git_root=data_dir / "git")
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
    sim.grant(repository, MAINTAINER, "maintain")
    sim.grant(repository, READER, "read")
    remote = await asyncio.to_thread(seed_remote, data_dir, REPOSITORY)  # git off the loop
    settings = Settings(
        webhook_secret=secret,
        github_api_url=sim.url,
        data_dir=data_dir / "orchestrator",
        port=port,
        app_id=str(APP_ID),
        write_interval_seconds=0.0,
        retry_base_seconds=0.2,
    )
    runner = web.AppRunner(
        create_app(settings, credentials=AppCredentials(str(APP_ID), key)), access_log=None
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield Stage(sim, app, repository, bot_url, data_dir, remote, rest is not None)
    finally:
        await runner.cleanup()
        await sim.stop()


async def play(stage: Stage, say: Callable[[str], None]) -> None:
    """The flows that exist so far, each as a person does it and as they then see it."""
    sim, repository = stage.sim, stage.repository

    say(f"1. @{MAINTAINER} installs the App on {repository.full_name}")
    sim.install(stage.app, [repository], by=MAINTAINER, account=repository.owner.login)
    wanted = [label.name for label in STORY_LABELS]
    await until(
        "the story labels", lambda: all(repository.label_named(n) is not None for n in wanted)
    )
    say(f"   → {len(wanted)} labels created by {stage.app.bot.login}: {', '.join(wanted)}")

    say(f'2. @{MAINTAINER} opens an issue "Plan the first release" and comments `/ao help`')
    issue = sim.open_issue(
        repository,
        by=MAINTAINER,
        title="Plan the first release",
        body="The brief is in docs/brief.md. What can the orchestrator do for us?",
    )
    asked = sim.comment(repository, issue.number, by=MAINTAINER, body="/ao help")
    await until("the answer to /ao help", lambda: len(stage.bot_comments(issue.number)) >= 1)
    reactions = " ".join(f"{r.content} by {r.user.login}" for r in asked.reactions)
    say(f"   → on her comment: {reactions or 'no reaction'}")
    say(f"   → {stage.app.bot.login} answered:")
    for line in stage.bot_comments(issue.number)[0].body.splitlines():
        if line.strip() and not line.startswith("<!--"):
            say(f"       {line}")

    say(f"3. @{MAINTAINER} comments `/ao ping`")
    sim.comment(repository, issue.number, by=MAINTAINER, body="/ao ping")
    await until("the answer to /ao ping", lambda: len(stage.bot_comments(issue.number)) >= 2)
    say(f"   → {_first_line(stage.bot_comments(issue.number)[1])}")

    say(f"4. @{READER}, who can only read the repository, comments `/ao help`")
    sim.comment(repository, issue.number, by=READER, body="/ao help")
    await until("the refusal", lambda: len(stage.bot_comments(issue.number)) >= 3)
    say(f"   → {_first_line(stage.bot_comments(issue.number)[2])}")

    say("5. Someone posts a webhook with a forged signature to the orchestrator")
    body = json.dumps({"action": "created", "comment": {"body": "/ao help"}}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stage.bot_url}/webhooks",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": "forged-delivery",
                "X-Hub-Signature-256": "sha256=" + "0" * 64,
            },
        ) as response,
    ):
        answer = await response.json()
    say(f"   → {response.status}: {answer.get('error', answer)}; nothing changed on GitHub")
    await sim.settle()


async def anonymous_clone(stage: Stage, say: Callable[[str], None]) -> None:
    """The repository is public: anyone reads it over HTTP with plain git, no token."""
    from githubsim.git_store import GitError, run_git

    try:
        _, out = await run_git("ls-remote", stage.clone_url)
    except GitError as exc:
        raise DemoFailed(f"an anonymous git ls-remote failed: {exc}") from exc
    refs = [line.split("\t")[1] for line in out.decode().splitlines() if "\t" in line]
    say(f"6. anyone reads the public repository with git → {', '.join(refs)}")


def _first_line(comment: Comment) -> str:
    return next(line for line in comment.body.splitlines() if line.strip())


def report(stage: Stage, say: Callable[[str], None]) -> None:
    deliveries = stage.sim.webhooks.deliveries
    answered = sum(1 for d in deliveries if d.status is not None and 200 <= d.status < 300)
    say("")
    say("Where to look:")
    say(f"  the issue, as people see it   {stage.issue_url(1)}")
    say(f"  everything on the local GitHub {stage.sim.url}/_sim/")
    say(f"  the repository, over HTTP     git clone {stage.clone_url}")
    say(f"  its bare git on disk          git clone {stage.remote}")
    say(f"  webhooks GitHub sent          {len(deliveries)}, {answered} answered 2xx")
    data = stage.data_dir / "orchestrator"
    say(f"  the orchestrator's journal    orchestrator deliveries list --data-dir {data}")
    say(f"  the orchestrator's log        {stage.data_dir / 'orchestrator.log'}")
    if stage.checked:
        violations = stage.sim.violations
        say(f"  GitHub's API description      {len(violations)} violations")
        for violation in violations[:10]:
            say(f"    {violation}")
    else:
        say("  GitHub's API description      not checked (scripts/prefetch-npm fetches it)")


async def run_demo(data_dir: Path, manifest: Path, port: int, wait: bool, out: TextIO) -> int:
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    async with staged(data_dir, manifest, port) as stage:
        say("Agent Orchestrator demo: a local GitHub, a seed repository and the orchestrator.")
        say(f"  local GitHub    {stage.sim.url}")
        say(f"  orchestrator    {stage.bot_url}/webhooks")
        say(f"  repository      {stage.repository.full_name} (seed project: todo-app)")
        say("")
        try:
            await play(stage, say)
            await anonymous_clone(stage, say)
        except DemoFailed as exc:
            say(f"   ✗ {exc}; see {data_dir / 'orchestrator.log'}")
            report(stage, say)
            return 1
        report(stage, say)
        if stage.checked and stage.sim.violations:
            return 1
        if wait:
            say("\nServing until Ctrl-C (--exit stops after the flows).")
            await _until_interrupted()
    return 0


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        handler = configure_logging("INFO", stream=stream)
        try:
            yield
        finally:
            handler.close()


def demo(data_dir: Path | None, port: int | None, wait: bool, out: TextIO) -> int:
    manifest = find_manifest()
    if manifest is None:
        print("orchestrator demo: app.yml not found; run it from the project's checkout", file=out)
        return 2
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="orchestrator-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with _log_to(data_dir / "orchestrator.log"):
        return asyncio.run(run_demo(data_dir, manifest, port or free_port(), wait, out))
