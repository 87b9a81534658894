"""The GitHub side of a run started from an issue, done by the server where the App's identity
is: the run's checkout (the App's clone, a worktree on the run branch), pushing what the
worker commits, the status comment, and the pull request when the run is done.

The worker runs the engine on the checkout and commits each finished step locally; it never
holds a token. Everything that needs one (fetch, push, the API) happens here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from bot.git.remote import GitFailed, Remote, git, run_branch
from bot.github.client import GitHubClients
from bot.github.publishing import find_or_open_pull, upsert_comment
from bot.runs.publish import RunView, status_comment, status_mark

log = logging.getLogger(__name__)

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

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Home:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

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

    def remote(self, home: Home) -> Remote:
        if home.repository not in self._remotes:

            async def token() -> str:
                return await self.clients.tokens.token(self.clients.app(), home.installation_id)

            clone = self.data_dir / "repos" / home.repository
            self._remotes[home.repository] = Remote(clone, home.clone_url, token)
        return self._remotes[home.repository]

    async def prepare(self, home: Home, workflow: str, job_id: int) -> tuple[Path, str]:
        """(the checkout, its branch): the run's own branch if GitHub has it (a retry, or the
        run going on from its branch alone), else the next free `ao/<issue>-<workflow>`."""
        remote = self.remote(home)
        await remote.sync()
        branch = await self.branch_of(home, workflow)
        checkout = self.data_dir / "worktrees" / "runs" / str(job_id)
        await remote.worktree(checkout, branch, home.default_branch)
        return checkout, branch

    async def branch_of(self, home: Home, workflow: str) -> str:
        remote = self.remote(home)
        candidates = await remote.branches(run_branch(home.issue, workflow, []))
        for branch in candidates:
            path = f"refs/remotes/origin/{branch}:{state_folder(branch)}/run.json"
            try:
                state = json.loads(await git("show", path, cwd=remote.clone))
            except (GitFailed, ValueError):
                continue
            if isinstance(state, dict) and state.get("run_id") == home.run_id:
                return branch
        return run_branch(home.issue, workflow, candidates)

    async def push(self, home: Home, checkout: Path, branch: str) -> None:
        await self.remote(home).push(checkout, branch)

    async def show(self, home: Home, view: RunView, *, now: float | None = None) -> None:
        """Edit the run's status comment; progress at most every `status_every_s` (a run's
        end, a pause and a failure always)."""
        moment = time.monotonic() if now is None else now
        final = view.state != "running"
        if not final and moment - self._said.get(home.run_id, -1e9) < self.status_every_s:
            return
        self._said[home.run_id] = moment
        gh = await self.clients.installation(home.installation_id)
        await upsert_comment(
            gh, home.comments_url, status_mark(home.run_id), status_comment(view), self.app_id
        )

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
