"""Check runs (with their buttons) and commit statuses, as GitHub keeps and announces them.

A check run belongs to the App that created it; only that App may update it, and only it
hears `requested_action` (a person pressed one of its buttons) and `rerequested`. Buttons
follow GitHub's limits: at most three, label ≤ 20 characters, description ≤ 40, identifier
≤ 20; they are shown, and can be pressed, only on a completed run, by people with write
access.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from githubsim import git_objects as objects
from githubsim.git_store import GitStore
from githubsim.model import ROLES, App, GitHubState, Repository, User
from githubsim.pulls_model import Pulls
from githubsim.render_checks import CheckRendering
from githubsim.render_git import GitRenderer

STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
STATES = ("error", "failure", "pending", "success")
#: A suite's conclusion is the first of these among its runs' (GitHub's precedence).
SUITE_PRECEDENCE = (
    "action_required",
    "cancelled",
    "timed_out",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
)
#: GitHub's limits on check-run buttons.
MAX_ACTIONS, MAX_LABEL, MAX_DESCRIPTION, MAX_IDENTIFIER = 3, 20, 40, 20


class CheckRefused(Exception):
    """GitHub answers 422 (403 for `status`) with this message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class CheckRun:
    id: int
    suite_id: int
    app: App
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: datetime.datetime
    completed_at: datetime.datetime | None
    output: dict[str, Any]
    actions: list[dict[str, str]]
    details_url: str | None = None
    external_id: str | None = None


@dataclasses.dataclass
class CommitStatus:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: User
    created_at: datetime.datetime


def check_actions(actions: Any) -> list[dict[str, str]]:
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise CheckRefused(f"Only {MAX_ACTIONS} actions can be added to a check run")
    checked = []
    for action in actions:
        fields = {
            k: action.get(k) if isinstance(action, dict) else None
            for k in ("label", "description", "identifier")
        }
        for key, limit in (
            ("label", MAX_LABEL),
            ("description", MAX_DESCRIPTION),
            ("identifier", MAX_IDENTIFIER),
        ):
            value = fields[key]
            if not isinstance(value, str) or not value or len(value) > limit:
                raise CheckRefused(f"Invalid action {key}: at most {limit} characters, required")
        checked.append({k: str(v) for k, v in fields.items()})
    return checked


class Checks(CheckRendering):
    def __init__(self, state: GitHubState, pulls: Pulls, store: GitStore) -> None:
        self.state, self.pulls, self.store = state, pulls, store
        self.runs: dict[int, tuple[Repository, CheckRun]] = {}
        self.statuses: dict[int, list[CommitStatus]] = {}  # repository id -> statuses
        self._suites: dict[tuple[int, int, str], int] = {}

    def runs_for(self, repository: Repository, sha: str) -> list[CheckRun]:
        return [
            run
            for repo, run in self.runs.values()
            if repo.id == repository.id and run.head_sha == sha
        ]

    async def create(self, repository: Repository, app: App, fields: dict[str, Any]) -> CheckRun:
        now = self.state.clock()
        suite = self._suites.setdefault(
            (repository.id, app.id, fields["head_sha"]), self.state.next_id()
        )
        run = CheckRun(
            self.state.next_id(),
            suite,
            app,
            str(fields["name"]),
            str(fields["head_sha"]),
            "queued",
            None,
            now,
            None,
            {"title": None, "summary": None, "text": None},
            [],
        )
        self._apply(run, fields)
        self.runs[run.id] = (repository, run)
        self._announce("created", repository, run, app.bot)
        if run.status == "completed":
            self._announce("completed", repository, run, app.bot)
            await self._suite_completed(repository, run)
        return run

    async def update(
        self, repository: Repository, run: CheckRun, app: App, fields: dict[str, Any]
    ) -> CheckRun:
        if run.app.id != app.id:
            raise CheckRefused(
                f"Invalid app_id `{app.id}` - check run can only be modified by its creator", 403
            )
        was = run.status
        self._apply(run, fields)
        if run.status == "completed" and was != "completed":
            self._announce("completed", repository, run, app.bot)
            await self._suite_completed(repository, run)
        return run

    async def _suite_completed(self, repository: Repository, run: CheckRun) -> None:
        """When every run of an App's suite on a commit is completed: `check_suite`
        `completed`, with the most important conclusion of its runs."""
        runs = [r for _, r in self.runs.values() if r.suite_id == run.suite_id]
        if any(r.status != "completed" for r in runs):
            return
        conclusion = min((r.conclusion or "neutral" for r in runs), key=SUITE_PRECEDENCE.index)
        info = await objects.commit(self.store, repository, run.head_sha)
        refs = await self.store.refs(repository)
        branch = next(
            (
                r.removeprefix("refs/heads/")
                for r, s in sorted(refs.items())
                if s == run.head_sha and r.startswith("refs/heads/")
            ),
            None,
        )
        suite = self.render_suite(repository, run, runs, conclusion, info, branch)
        self.state.announce("check_suite", "completed", repository, run.app.bot, check_suite=suite)

    def _apply(self, run: CheckRun, fields: dict[str, Any]) -> None:
        if "actions" in fields:
            run.actions = check_actions(fields["actions"])
        status, conclusion = fields.get("status"), fields.get("conclusion")
        if status is not None and status not in STATUSES:
            raise CheckRefused(f"Invalid status {status}")
        if conclusion is not None:
            if conclusion not in CONCLUSIONS:
                raise CheckRefused(f"Invalid conclusion {conclusion}")
            run.conclusion, run.status = conclusion, "completed"
            run.completed_at = self.state.clock()
        elif status is not None:
            if status == "completed":
                raise CheckRefused("Conclusion is required when status is completed")
            run.status = status
        if isinstance(fields.get("output"), dict):
            output = fields["output"]
            run.output = {k: output.get(k, run.output.get(k)) for k in ("title", "summary", "text")}
        for key in ("details_url", "external_id", "name"):
            if fields.get(key) is not None:
                setattr(run, key, str(fields[key]))

    def press(self, repository: Repository, run: CheckRun, identifier: str, person: User) -> None:
        """A person presses a button: `requested_action`, to the App that made the run."""
        if run.status != "completed":
            raise CheckRefused("Buttons are shown only on completed check runs")
        if ROLES.index(repository.role_of(person.login)) < ROLES.index("write"):
            raise CheckRefused("Must have write access to press a check run's button", 403)
        if identifier not in {a["identifier"] for a in run.actions}:
            raise CheckRefused(f"No button {identifier!r} on check run {run.id}")
        self._announce(
            "requested_action", repository, run, person, requested_action={"identifier": identifier}
        )

    def rerequest(self, repository: Repository, run: CheckRun, sender: User) -> None:
        self._announce("rerequested", repository, run, sender)

    def _announce(
        self, action: str, repository: Repository, run: CheckRun, sender: User, **extra: Any
    ) -> None:
        only = run.app if action in ("requested_action", "rerequested") else None
        self.state.announce(
            "check_run",
            action,
            repository,
            sender,
            only_app=only,
            check_run=self.render(repository, run, webhook=True),
            **extra,
        )

    # Commit statuses ----------------------------------------------------------------------

    async def set_status(
        self, repository: Repository, sha: str, creator: User, fields: dict[str, Any]
    ) -> CommitStatus:
        """A commit status; sends `status` with the commit and the branches at it."""
        state = fields.get("state")
        if state not in STATES:
            raise CheckRefused(f"State is not included in the list ({', '.join(STATES)})")
        status = CommitStatus(
            self.state.next_id(),
            sha,
            str(state),
            str(fields.get("context") or "default"),
            fields.get("description"),
            fields.get("target_url"),
            creator,
            self.state.clock(),
        )
        self.statuses.setdefault(repository.id, []).append(status)
        info = await objects.commit(self.store, repository, sha)
        refs = await self.store.refs(repository)
        show = GitRenderer(self.state)
        branches = [
            show.branch_brief(repository, r.removeprefix("refs/heads/"), s, False)
            for r, s in sorted(refs.items())
            if s == sha and r.startswith("refs/heads/")
        ]
        rendered = self.render_status(repository, status)
        self.state.announce(
            "status",
            None,
            repository,
            creator,
            id=status.id,
            sha=sha,
            name=repository.full_name,
            target_url=status.target_url,
            avatar_url=rendered["avatar_url"],
            context=status.context,
            description=status.description,
            state=status.state,
            commit=show.commit(repository, info),
            branches=branches,
            created_at=rendered["created_at"],
            updated_at=rendered["updated_at"],
        )
        return status

    def missing(self, repository: Repository, sha: str, contexts: list[str]) -> list[str]:
        """The required contexts that have not passed on `sha`: a check run of that name
        concluded success (or neutral, skipped), or a commit status of that context success."""
        passed = {
            r.name
            for r in self.runs_for(repository, sha)
            if r.conclusion in ("success", "neutral", "skipped")
        }
        passed |= {s.context for s in self.combined(repository, sha)[1] if s.state == "success"}
        return [c for c in contexts if c not in passed]

    def statuses_for(self, repository: Repository, sha: str) -> list[CommitStatus]:
        """Newest first, as GitHub lists them."""
        return [s for s in reversed(self.statuses.get(repository.id, [])) if s.sha == sha]

    def combined(self, repository: Repository, sha: str) -> tuple[str, list[CommitStatus]]:
        latest: dict[str, CommitStatus] = {}
        for status in self.statuses_for(repository, sha):
            latest.setdefault(status.context, status)
        found = sorted(latest.values(), key=lambda s: s.id)  # oldest first, as GitHub lists them
        states = {s.state for s in found}
        if states & {"error", "failure"}:
            return "failure", found
        if not found or "pending" in states:
            return "pending", found
        return "success", found
