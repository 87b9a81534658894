"""The GitHub side of a run started from an issue, done by the server where the App's identity
is: the run's checkout (the App's clone, a worktree on the run branch), pushing what the
worker commits, the status comment, and the pull request when the run is done.

The worker runs the engine on the checkout and commits each finished step locally; it never
holds a token. Everything that needs one (fetch, push, the API) happens here; one job's life
on GitHub, as the runner follows it, is in bot/runs/follower.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import gidgethub

from bot.git.remote import GitFailed, Identity, Remote, git, run_branch
from bot.github.client import GitHubClients
from bot.github.markers import find_marked_comment
from bot.github.publishing import edit_comment, find_or_open_pull
from bot.runs.escalations import close_with, escalation_mark, find_or_open, issue_text
from bot.runs.jobs import Job
from bot.runs.publish import RunView, status_comment, status_mark

log = logging.getLogger(__name__)

#: How long a run waits for its status comment (the `/ao start` answer) before it goes on.
STATUS_WAITS, STATUS_WAIT_S = 40, 0.25
#: Where a run keeps its state and decision log on its branch, merged with its pull request.
RUNS_FOLDER = "_bmad-output/ao-runs"


@dataclasses.dataclass(frozen=True)
class Home:
    """The issue a run belongs to, and what the runner needs to act on its repository."""

    installation_id: int
    repository: str  # owner/name
    clone_url: str
    default_branch: str
    issue: int
    started_by: str
    run_id: str  # the starting command's comment id: stable across retries and restarts
    html_url: str = ""  # the repository's page, for links people follow

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Home:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    @property
    def comments_url(self) -> str:
        return f"/repos/{self.repository}/issues/{self.issue}/comments"


def state_folder(branch: str) -> str:
    """The run's folder on its branch: `_bmad-output/ao-runs/7-create-prd`."""
    return f"{RUNS_FOLDER}/{branch.removeprefix('ao/')}"


class GitHubHome:
    """Prepares, follows and finishes the runs of one server's installations."""

    def __init__(
        self, clients: GitHubClients, data_dir: Path, app_id: int, *, status_every_s: float = 5.0
    ) -> None:
        self.clients = clients
        self.data_dir = data_dir
        self.app_id = app_id
        self.status_every_s = status_every_s
        self._remotes: dict[str, Remote] = {}
        self._said: dict[str, float] = {}  # run id -> when its status comment was last edited
        self._identity: Identity | None = None

    def remote(self, home: Home) -> Remote:
        if home.repository not in self._remotes:

            async def token() -> str:
                return await self.clients.tokens.token(self.clients.app(), home.installation_id)

            clone = self.data_dir / "repos" / home.repository
            self._remotes[home.repository] = Remote(clone, home.clone_url, token)
        return self._remotes[home.repository]

    async def prepare(self, home: Home, workflow: str, checkout: Path) -> str:
        """The run's checkout on its branch, and the branch: the run's own if GitHub has it (a
        retry, or the run going on from its branch alone), else the next free
        `ao/<issue>-<workflow>`."""
        remote = self.remote(home)
        await remote.sync()
        if (checkout / ".git").exists():  # this server prepared it before: same run, same branch
            return (await git("rev-parse", "--abbrev-ref", "HEAD", cwd=checkout)).strip()
        branch = await self.branch_of(home, workflow)
        await remote.worktree(checkout, branch, home.default_branch)
        return branch

    def identity_from(self, comment: dict[str, Any]) -> Identity:
        """Who the App's commits are by: its bot user, as the App's own comment shows it
        (`agent-orchestrator[bot]`, with the user id GitHub's noreply address needs)."""
        user = comment.get("user") or {}
        if self._identity is None and user.get("login") and user.get("id"):
            login = str(user["login"])
            self._identity = Identity(login, f"{user['id']}+{login}@users.noreply.github.com")
        if self._identity is None:  # not seen yet: a name without the link to the bot user
            return Identity(
                "agent-orchestrator[bot]", "agent-orchestrator[bot]@users.noreply.github.com"
            )
        return self._identity

    async def branch_of(self, home: Home, workflow: str) -> str:
        """The run's branch: its own (by the run id its state names); else a branch of the
        same workflow from the same issue whose run never finished, which this run goes on
        with (its server was lost with its data dir); else the next free name."""
        remote = self.remote(home)
        candidates = await remote.branches(run_branch(home.issue, workflow, []))
        unfinished: list[str] = []
        for branch in candidates:
            path = f"refs/remotes/origin/{branch}:{state_folder(branch)}/run.json"
            try:
                state = json.loads(await git("show", path, cwd=remote.clone))
            except (GitFailed, ValueError):
                continue
            if not isinstance(state, dict):
                continue
            if state.get("run_id") == home.run_id:
                return branch
            status = (state.get("checkpoint") or {}).get("status")
            if status in ("running", "paused") and state.get("branch") == branch:
                unfinished.append(branch)
        if unfinished:
            return unfinished[-1]
        return run_branch(home.issue, workflow, candidates)

    async def push(self, home: Home, checkout: Path, branch: str) -> None:
        await self.remote(home).push(checkout, branch)

    async def show(
        self, home: Home, view: RunView, *, now: float | None = None, always: bool = False
    ) -> dict[str, Any] | None:
        """Edit the run's status comment (the comment; None when it was too soon or is not
        there yet): progress at most every `status_every_s`; a run's end, a pause and a
        failure always. The comment is the `/ao start` answer: only edited here, never
        posted, so the command's handler and the runner cannot both post one."""
        moment = time.monotonic() if now is None else now
        final = always or view.state != "running"
        if not final and moment - self._said.get(home.run_id, -1e9) < self.status_every_s:
            return None
        self._said[home.run_id] = moment
        gh = await self.clients.installation(home.installation_id)
        return await edit_comment(
            gh, home.comments_url, status_mark(home.run_id), status_comment(view), self.app_id
        )

    async def status_link(self, home: Home, run_id: str) -> str:
        """Where a run's status comment is, for a person to follow ("" when none is found)."""
        gh = await self.clients.installation(home.installation_id)
        found = await find_marked_comment(gh, home.comments_url, status_mark(run_id), self.app_id)
        return str((found or {}).get("html_url") or "")

    async def open_escalation(
        self, home: Home, view: RunView, escalation: dict[str, Any]
    ) -> dict[str, Any]:
        """The run's question as an issue (found, or opened once and assigned to the run's
        starter where they can be), linking back to the status comment."""
        gh = await self.clients.installation(home.installation_id)
        run = {"workflow": view.workflow, "issue": home.issue, "started_by": home.started_by,
               "run_id": home.run_id, "branch_url": view.branch_url}  # fmt: skip
        title, body = issue_text(
            escalation, run=run, status_url=await self.status_link(home, home.run_id)
        )
        mark = escalation_mark(home.run_id, int(escalation.get("number") or 0))
        return await find_or_open(
            gh, home.repository, self.app_id,
            title=title, body=body, mark=mark, assignee=home.started_by,
        )  # fmt: skip

    async def close_escalation(
        self, home: Home, number: int, *, body: str, mark: str, reason: str
    ) -> None:
        gh = await self.clients.installation(home.installation_id)
        issue_url = f"/repos/{home.repository}/issues/{number}"
        await close_with(gh, issue_url, self.app_id, body=body, mark=mark, reason=reason)

    async def show_job(self, job: Job, **changes: Any) -> None:
        """Edit the status comment of a run no worker is following (a person cancelled or
        paused it while it waited)."""
        assert job.home is not None
        home = Home.from_json(job.home)
        web = home.html_url or home.clone_url.removesuffix(".git")
        view = RunView(
            home.run_id, job.workflow, job.state, home.issue, home.started_by,
            branch=job.branch or "", branch_url=f"{web}/tree/{job.branch}" if job.branch else "",
        )  # fmt: skip
        await self.show(home, dataclasses.replace(view, **changes), always=True)

    async def open_pull(self, home: Home, branch: str, title: str, body: str) -> dict[str, Any]:
        gh = await self.clients.installation(home.installation_id)
        repository = await gh.getitem(f"/repos/{home.repository}")
        pull, opened = await find_or_open_pull(
            gh, repository, head=branch, base=home.default_branch, title=title, body=body
        )
        if opened:
            log.info("pull request opened", extra={"repository": home.repository,
                                                    "number": pull.get("number")})  # fmt: skip
        return pull


#: What can go wrong talking to GitHub or its git; the run's outcome is recorded regardless.
GITHUB_TROUBLE = (GitFailed, gidgethub.GitHubException, aiohttp.ClientError, OSError)
