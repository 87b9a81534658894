"""GitHub as the board: the default branch's sprint status made into story issues (one per
story and epic, stories as their epic's sub-issues, exactly one `story:` label each) and the
status issue, a pass at a time; and a person's status change committed back to the file.

A pass compares the sprint status with what GitHub has and closes the difference; it runs
after a push that touches the file, after a person's label change, and at start-up, so a
missed webhook only delays. It creates at most `per_pass` issues (GitHub limits how fast
content may be created); the rest come in the next pass, `pass_every_s` later, and the status
issue says how many are still to come.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.git.refs import resolve
from bot.git.remote import GitFailed, git
from bot.github.markers import marker
from bot.project.board import Board, Event, epics_of
from bot.project.location import sprint_status_path
from bot.project.sprint_edit import Change, ChangeOutcome
from bot.project.sprint_status import SprintStatus, SprintStatusError, decode, parse
from bot.project.state_commit import StateCommitter
from bot.project.state_pull import GitHubStatePulls
from bot.project.status_issue import body as status_body
from bot.project.status_publish import TROUBLE, Client, StatusIssues
from bot.project.story_files import disagreements, read_story_statuses, story_folder
from bot.project.story_issues import Wanted, wanted
from bot.project.story_sync import StoryIssues
from bot.runs.escalations import find_or_open
from bot.runs.github_home import GitHubHome, Home
from bot.templates import render

log = logging.getLogger(__name__)

#: Issues created per pass: GitHub asks for at most about 80 content-creating requests a
#: minute and 500 an hour, and the App writes comments and pull requests too.
PER_PASS = 20
PASS_EVERY_S = 60.0
EVENTS_KEPT = 20


@dataclasses.dataclass
class _Repository:
    home: Home
    data: dict[str, Any]  # the repository as GitHub's API shows it
    path: str = ""  # the sprint status file, once a pass found it
    protected: bool = False  # learnt by the committer: changes go through `ao/state`
    events: collections.deque[Event] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=EVENTS_KEPT)
    )
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    again: asyncio.Task[None] | None = None
    waiting: bool = False  # a pass is asked for and has not started: more asks join it


def home_of(installation_id: int, repository: dict[str, Any]) -> Home:
    return Home(
        installation_id=installation_id,
        repository=str(repository["full_name"]),
        clone_url=str(repository.get("clone_url") or ""),
        default_branch=str(repository.get("default_branch") or "main"),
        issue=0,
        started_by="",
        run_id="board",
        html_url=str(repository.get("html_url") or ""),
    )


class BoardSync:
    """Every repository's board, for one server."""

    def __init__(
        self,
        github: GitHubHome,
        data_dir: Path,
        *,
        per_pass: int = PER_PASS,
        pass_every_s: float = PASS_EVERY_S,
        status: StatusIssues | None = None,
    ) -> None:
        self.github = github
        self.data_dir = data_dir
        self.per_pass = per_pass
        self.pass_every_s = pass_every_s
        self.status = status or StatusIssues(github.app_id)
        self.stories = StoryIssues(github.app_id)
        self._repositories: dict[str, _Repository] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Told of each pass's repository (installation, repository data) once it is done.
        self.after_pass: list[Callable[[int, dict[str, Any]], None]] = []

    def repository(self, installation_id: int, data: dict[str, Any]) -> _Repository:
        name = str(data["full_name"])
        known = self._repositories.get(name)
        if known is None or known.home.installation_id != installation_id:
            known = _Repository(home_of(installation_id, data), dict(data))
            self._repositories[name] = known
        return known

    def note(self, repository: str, kind: str, **context: Any) -> None:
        """An event the status issue lists (the last few, newest first)."""
        if (known := self._repositories.get(repository)) is not None:
            text = render("project/board_event.md.j2", kind=kind, **context)
            known.events.append(Event(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), text))

    def wake(self, installation_id: int, data: dict[str, Any]) -> None:
        """A pass soon, off the webhook's path (its delivery is acknowledged meanwhile); a
        burst of asks before it starts is one pass."""
        repo = self.repository(installation_id, data)
        if not repo.waiting:
            repo.waiting = True
            self._spawn(self._pass_logged(repo))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pass_logged(self, repo: _Repository, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        try:
            await self.sync(repo)
        except (*TROUBLE, GitFailed, OSError) as exc:  # the next push or the restart retries
            log.warning("a board pass failed",
                        extra={"repository": repo.home.repository, "error": repr(exc)})  # fmt: skip

    async def sync(self, repo: _Repository) -> int:
        """One pass; how many issues are still to create (0 when the board is complete)."""
        async with repo.lock:
            repo.waiting = False  # what changes from now on asks for the next pass
            sprint, checkout = await self._read(repo)
            if sprint is None:
                return 0
            home = repo.home
            blob = f"{home.html_url}/blob/{home.default_branch}"
            file_url = f"{blob}/{repo.path}"
            folder = story_folder(sprint, str(PurePosixPath(repo.path).parent))
            files = await asyncio.to_thread(read_story_statuses, checkout, sprint, folder)
            gh = await self.github.clients.installation(home.installation_id)
            issues = await self.stories.existing(gh, home.repository)
            wants: list[Wanted] = wanted(epics_of(sprint, None, file_url),
                                         {k: f"{blob}/{p}" for k, (p, _) in files.items()},
                                         file_url)  # fmt: skip
            left = await self.stories.reconcile(gh, home.repository, wants, issues, self.per_pass)
            if left:
                self._schedule_again(repo)
            links = {key: str(issue.get("html_url") or "") for key, issue in issues.items()}
            progress = {"made": len(wants) - left, "total": len(wants)}
            note = render("project/board_event.md.j2", kind="progress", **progress) if left else ""
            board = Board(
                repository=home.repository,
                phase="implementation (sprint)",
                epics=epics_of(sprint, links, file_url),
                events=tuple(repo.events),
                disagreements=tuple(disagreements(sprint, files)),
                file_url=file_url,
                note=note,
            )
            self.status.show(home.repository, self._client(home), status_body(board))
        for hook in self.after_pass:
            hook(home.installation_id, repo.data)
        return left

    def _schedule_again(self, repo: _Repository) -> None:
        if repo.again is None or repo.again.done() or repo.again is asyncio.current_task():
            repo.again = asyncio.create_task(self._pass_logged(repo, self.pass_every_s))

    def _client(self, home: Home) -> Client:
        async def client() -> GitHubAPI:
            return await self.github.clients.installation(home.installation_id)

        return client

    async def _read(self, repo: _Repository) -> tuple[SprintStatus | None, Path]:
        """The sprint status on the default branch as it is now (None when there is none or
        it cannot be read), and the checkout it was read from."""
        home = repo.home
        remote = self.github.remote(home)
        await remote.sync()
        checkout = self.data_dir / "worktrees" / "board" / home.repository
        tip = f"refs/remotes/origin/{home.default_branch}"
        try:
            if (checkout / ".git").exists():
                at = resolve(remote.clone, tip)
                if at is None or resolve(checkout, "HEAD") != at:  # only read here: as left
                    await git("checkout", "--quiet", "--force", "--detach", tip, cwd=checkout)
                    await git("clean", "-fdxq", cwd=checkout)
            else:
                async with remote.exclusive():
                    await git("worktree", "prune", cwd=remote.clone)
                    await git("worktree", "add", "--quiet", "--detach", str(checkout), tip,
                              cwd=remote.clone)  # fmt: skip
        except GitFailed as exc:
            if "invalid reference" in exc.stderr or "unknown revision" in exc.stderr:
                return None, checkout  # an empty repository: no default branch yet
            raise
        repo.path = await asyncio.to_thread(sprint_status_path, checkout)
        file = checkout / repo.path
        if not file.is_file():
            return None, checkout
        try:
            return parse(decode(file.read_bytes(), repo.path), repo.path), checkout
        except SprintStatusError as exc:
            log.warning("the sprint status cannot be read",
                        extra={"repository": home.repository, "error": str(exc)})  # fmt: skip
            blob = (await git("rev-parse", f"{tip}:{repo.path}", cwd=remote.clone)).strip()
            await self._unreadable(home, repo.path, exc, blob)
            return None, checkout

    async def _unreadable(self, home: Home, path: str, error: SprintStatusError, blob: str) -> None:
        """One escalation per version of a file that cannot be read (it is never written
        meanwhile), quoting the parser's message with its line."""
        gh = await self.github.clients.installation(home.installation_id)
        line = f"#L{error.line}" if error.line else ""
        url = f"{home.html_url}/blob/{home.default_branch}/{path}{line}"
        shown = {"path": path, "error": error, "url": url, "blob": blob[:7]}
        title = render("project/sprint_unreadable_title.txt.j2", **shown).strip()
        body = render("project/sprint_unreadable_issue.md.j2", **shown)
        await find_or_open(gh, home.repository, self.github.app_id, title=title, body=body,
                           mark=marker("unreadable", blob), assignee="")  # fmt: skip

    async def person_sets(
        self, repo: _Repository, key: str, status: str, seen: str | None, login: str
    ) -> ChangeOutcome:
        """A person's status change, committed by the App to the default branch."""
        home = repo.home
        gh = await self.github.clients.installation(home.installation_id)
        identity = await self.stories.identity(gh, self.github, home.repository)
        async with repo.lock:  # never in the middle of a pass that read the file before
            if not repo.path:
                await self._read(repo)
            pulls = GitHubStatePulls(gh, repo.data)
            remote = self.github.remote(home)
            committer = StateCommitter(remote, identity, repo.path, home.default_branch, pulls)
            committer.protected = repo.protected
            done = await committer.commit([Change(key, status, "person", seen, login)])
            repo.protected = committer.protected
        [outcome] = done.outcomes
        return outcome

    async def reconcile(self) -> None:
        """A pass on every installed repository that has a BMAD project (at start-up)."""
        try:
            installations = [i async for i in self.github.clients.app().getiter(
                "/app/installations")]  # fmt: skip
        except TROUBLE as exc:
            log.warning("the installations could not be listed", extra={"error": repr(exc)})
            return
        for installation in installations:
            installation_id = int(installation["id"])
            try:
                gh = await self.github.clients.installation(installation_id)
                async for data in gh.getiter("/installation/repositories",
                                             iterable_key="repositories"):  # fmt: skip
                    if await self.stories.has_bmad(gh, data):
                        await self._pass_logged(self.repository(installation_id, dict(data)))
            except TROUBLE as exc:  # one installation's trouble never stops the others
                log.warning(
                    "reconciling an installation's boards failed",
                    extra={"installation_id": installation_id, "error": repr(exc)},
                )

    async def close(self) -> None:
        tasks = [*self._tasks, *(r.again for r in self._repositories.values() if r.again)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.status.close()
