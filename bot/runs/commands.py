"""`/ao start` and `/ao status`: runs started and shown from an issue.

`start` reads the workflows as the repository's default branch has them (never a PR's or a
fork's), refuses what it cannot start with an answer that changes nothing, and otherwise
queues one job per command (keyed by the comment, so a redelivery queues nothing more). Its
answer is the run's status comment, which the runner then keeps up to date.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bot.commands.registry import CommandRegistry, CommandRequest, CommandSpec
from bot.engine.loader import Project, load
from bot.git.remote import git
from bot.runs.github_home import GitHubHome, Home
from bot.runs.jobs import JobSpec
from bot.runs.publish import RunView, status_comment
from bot.runs.runner import Runner
from bot.runs.start import StartRefused, resolve
from bot.runs.states import FINISHED
from bot.templates import render


class PlanStarter(Protocol):
    async def start(self, home: Home, project: Project) -> str: ...


class Starter:
    """Starts runs from issues and says where they stand."""

    def __init__(
        self,
        github: GitHubHome,
        runner: Callable[[], Runner | None],
        data_dir: Path,
        default_model: str | None,
        plans: PlanStarter | None = None,
    ) -> None:
        self.github = github
        self._runner = runner  # the runner starts with the server; asked for when needed
        self.data_dir = data_dir
        self.default_model = default_model
        self.plans = plans  # `/ao start plan`, where the install has no workflow of that name
        self._checkouts: dict[str, asyncio.Lock] = {}

    def add_to(self, registry: CommandRegistry) -> None:
        registry.add(CommandSpec(
            "start", "/ao start WORKFLOW [key=value …]",
            "start a BMAD workflow; this issue is its home", self.start, max_args=20,
        ))  # fmt: skip
        registry.add(CommandSpec(
            "status", "/ao status", "the runs of this repository and where they stand",
            self.status,
        ))  # fmt: skip

    async def start(self, request: CommandRequest) -> str:
        runner = self._runner()
        if runner is None or request.installation_id is None or not request.clone_url:
            return render("runs/not_here.md.j2")
        if self.default_model is None:
            return render("runs/no_model.md.j2")
        home = Home(
            request.installation_id,
            request.repository,
            request.clone_url,
            request.default_branch or "main",
            request.issue_number,
            request.user,
            str(request.comment_id),
            request.html_url,
        )
        try:
            project = await self.default_branch(home)
            args = request.command.args
            planning = tuple(args) == ("plan",)
            if self.plans is not None and planning and project.workflow("plan") is None:
                return await self.plans.start(home, project)
            wanted = resolve(project, args)
        except StartRefused as refused:
            return str(refused)
        for job in await runner.queue.listing(None, 1000):
            if (
                job.repository == home.repository
                and job.workflow == wanted.workflow
                and job.state not in FINISHED
                and job.home is not None
                and job.home.get("issue") == home.issue
                and job.home.get("run_id") != home.run_id
            ):
                link = await self.github.status_link(home, str(job.home.get("run_id")))
                return render("runs/already_running.md.j2", workflow=wanted.workflow,
                              state=job.state, link=link)  # fmt: skip
        spec = JobSpec(
            key=f"start:{home.run_id}",
            repository=home.repository,
            workflow=wanted.workflow,
            checkout=str(self.data_dir / "worktrees" / "runs" / home.run_id),
            llm=self.default_model,
            overrides=wanted.overrides,
            home=home.to_json(),
        )
        await runner.enqueue(spec)
        view = RunView(home.run_id, wanted.workflow, "queued", home.issue, home.started_by)
        return status_comment(view)

    async def status(self, request: CommandRequest) -> str:
        runner = self._runner()
        if runner is None:
            return render("runs/not_here.md.j2")
        jobs = [
            j for j in await runner.queue.listing(None, 50) if j.repository == request.repository
        ]
        return render("runs/status_list.md.j2", jobs=jobs, repository=request.repository)

    async def default_branch(self, home: Home) -> Project:
        """The project as the default branch has it now: fetched, checked out apart from any
        run, loaded off the event loop (one at a time per repository: one checkout)."""
        lock = self._checkouts.setdefault(home.repository, asyncio.Lock())
        async with lock:
            return await self._default_branch(home)

    async def _default_branch(self, home: Home) -> Project:
        remote = self.github.remote(home)
        await remote.sync()
        checkout = self.data_dir / "worktrees" / "default" / home.repository
        tip = f"refs/remotes/origin/{home.default_branch}"
        if (checkout / ".git").exists():
            await git("checkout", "--quiet", "--force", "--detach", tip, cwd=checkout)
            await git("clean", "-fdxq", cwd=checkout)
        else:
            async with remote.exclusive():  # never beside a fetch of the same clone
                await git("worktree", "prune", cwd=remote.clone)
                await git(
                    "worktree", "add", "--quiet", "--detach", str(checkout), tip, cwd=remote.clone
                )
        return await asyncio.to_thread(load, checkout)
