"""The repository's own CI: a check command run in a checkout of every pull request's head.

A test or the demo gives a repository a shell command; whenever a pull request opens, or a
push moves the head of an open pull request, the stand-in checks the commit out in a
temporary worktree, runs the command there (as a CI App would), and reports a check run
(`ci`, by the `githubsim-ci` App) and a commit status: success or failure by exit code,
`timed_out` when it runs too long. So "the checks are green" can be false.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from githubsim.checks import Checks
from githubsim.git_store import GitStore, base_env
from githubsim.model import App, GitHubState, Repository
from githubsim.pulls_model import PullRequest

CHECK_NAME = "ci"
#: How much of the command's output the check run's summary keeps (its end).
OUTPUT_TAIL = 60_000


class RepositoryCI:
    def __init__(self, state: GitHubState, store: GitStore, checks: Checks) -> None:
        self.state, self.store, self.checks = state, store, checks
        self.commands: dict[int, str] = {}
        self.timeout_s = 600.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._app: App | None = None

    @property
    def app(self) -> App:
        """The CI's own App (not installed anywhere: its check runs are its own)."""
        if self._app is None:
            self._app = self.state.register_app(
                app_id=self.state.next_id(),
                slug="githubsim-ci",
                name="Repository CI",
                owner="githubsim",
                public_key="",
                permissions={"checks": "write", "statuses": "write", "contents": "read"},
                events=[],
                webhook_url=None,
                webhook_secret="",
            )
        return self._app

    def set_command(self, repository: Repository, command: str | None) -> None:
        if command is None:
            self.commands.pop(repository.id, None)
        else:
            self.commands[repository.id] = command

    def follow(self, repository: Repository, pulls: list[PullRequest]) -> None:
        """Check the heads of these pull requests (just opened, or just pushed to)."""
        if repository.id not in self.commands:
            return
        for sha in dict.fromkeys(p.head_sha for p in pulls):
            task = asyncio.get_running_loop().create_task(self.run(repository, sha))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop the runs still going (the server is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def settle(self) -> None:
        """Wait for every CI run started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self, repository: Repository, sha: str) -> None:
        command = self.commands[repository.id]
        app = self.app
        run = await self.checks.create(
            repository, app, {"name": CHECK_NAME, "head_sha": sha, "status": "in_progress"}
        )
        await self.checks.set_status(
            repository, sha, app.bot, {"state": "pending", "context": CHECK_NAME}
        )
        conclusion, log = await self._execute(repository, sha, command)
        title = {"success": "Passed", "failure": "Failed", "timed_out": "Timed out"}[conclusion]
        await self.checks.update(
            repository,
            run,
            app,
            {
                "conclusion": conclusion,
                "output": {"title": title, "summary": f"`{command}`", "text": log[-OUTPUT_TAIL:]},
            },
        )
        await self.checks.set_status(
            repository,
            sha,
            app.bot,
            {
                "state": "success" if conclusion == "success" else "failure",
                "context": CHECK_NAME,
                "description": f"{title}: {command}"[:140],
            },
        )

    async def _execute(self, repository: Repository, sha: str, command: str) -> tuple[str, str]:
        async with self.store.worktree(repository, sha) as work:
            process = await asyncio.create_subprocess_shell(
                command,
                cwd=work,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=base_env(),
                start_new_session=True,
            )
            try:
                out, _ = await asyncio.wait_for(process.communicate(), self.timeout_s)
            except TimeoutError:
                await _kill(process)
                return "timed_out", ""
            except asyncio.CancelledError:
                await _kill(process)
                raise
        log = out.decode(errors="replace")
        return ("success" if process.returncode == 0 else "failure"), log


async def _kill(process: asyncio.subprocess.Process) -> None:
    """End the command and what it started (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
