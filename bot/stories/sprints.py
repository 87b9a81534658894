"""The sprint that runs itself: a reconciler per repository that compares the default
branch's sprint status with the story pull requests and closes the difference (start,
deliver, review, address, merge).

Stories run in the server process, as tasks on its event loop: a story is mostly waiting on
the model, on git and on the sandboxed test run (its own process), and every step needs the
App's GitHub client, which a token-less worker could not hold. Nothing about a story is kept
in memory that a restart needs: the sprint status file (`in-progress` once started, `review`
once verified), the `story/<key>` branch and its pull request (found by head branch) are the
durable record, so the job "deliver story K" is keyed by the story itself. A pass after a
restart finds an `in-progress` story with no task and delivers it again from its pushed
branch; one whose pull request is already ready is only recorded as `review`. Passes follow
the board's (start-up, pushes that touch the file, a person's label) and pull request,
review and check webhooks; a story that waits (CI, a person's approval) asks for another
pass `again_s` later, so a lost webhook only delays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.agents.config import AgentsConfig, ConfigError, parse_config
from bot.commands.registry import CommandRequest
from bot.git.commit_file import read_file
from bot.git.remote import GitFailed
from bot.git.worktrees import Worktrees, repository_dirs
from bot.project.board_sync import BoardSync
from bot.project.location import DEFAULT
from bot.project.sprint_edit import Change
from bot.project.sprint_status import SprintStatusError
from bot.project.state_commit import StateCommitter, StateNotCommitted
from bot.project.state_pull import GitHubStatePulls
from bot.project.status_publish import TROUBLE
from bot.project.statuses import known
from bot.project.story_issues import workable
from bot.project.story_labels import story_key
from bot.stories.address import Addressed, Escalated, address
from bot.stories.blocked import cycle_escalation, escalate, unblock
from bot.stories.compose import Means
from bot.stories.deliver import Blocked, Delivered, Place, deliver
from bot.stories.merge import Conflicted, Merged, merge_story
from bot.stories.order import DependencyCycle, schedule
from bot.stories.review import find_check, review_external, review_pull
from bot.stories.sprint import SprintView, sprint_view
from bot.stories.story_check import branch_head, show_story_check
from bot.templates import render

log = logging.getLogger(__name__)
CONFIG_PATH = ".github/orchestrator.yml"
AGAIN_S = 30.0
FAILED = (*TROUBLE, GitFailed, OSError, SprintStatusError, StateNotCommitted, ConfigError)


@dataclasses.dataclass
class _Sprint:
    """One repository's passes: one at a time, a burst of asks is one pass."""

    installation_id: int
    data: dict[str, Any]
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    waiting: bool = False
    again: asyncio.Task[None] | None = None
    worktrees: Worktrees | None = None
    work: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)  # story key
    blocked: set[str] = dataclasses.field(default_factory=set)


class Sprints:
    """Every repository's sprint, for one server."""

    def __init__(self, board: BoardSync, means: Means, *, again_s: float = AGAIN_S) -> None:
        self.board = board
        self.means = means
        self.again_s = again_s
        self._sprints: dict[str, _Sprint] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        board.after_pass.append(self.wake)

    def _sprint(self, installation_id: int, data: dict[str, Any]) -> _Sprint:
        name = str(data["full_name"])
        sprint = self._sprints.get(name)
        if sprint is None or sprint.installation_id != installation_id:
            sprint = self._sprints[name] = _Sprint(installation_id, dict(data))
        return sprint

    def wake(self, installation_id: int, data: dict[str, Any]) -> None:
        """A pass soon for the repository, off the webhook's path."""
        sprint = self._sprint(installation_id, data)
        if not sprint.waiting:
            sprint.waiting = True
            self._spawn(self._pass_logged(sprint))

    async def retry(self, request: CommandRequest) -> str | None:
        """`/ao retry` on a story's issue: unblocked, and delivered again from its branch;
        None when the issue is no story's."""
        if request.installation_id is None:
            return None
        gh = await self.board.github.clients.installation(request.installation_id)
        url = f"/repos/{request.repository}/issues/{request.issue_number}"
        key = story_key(dict(await gh.getitem(url)), self.board.github.app_id)
        if key is None:
            return None
        unblocked = await unblock(gh, url)
        data = dict(await gh.getitem(f"/repos/{request.repository}"))
        self._sprint(request.installation_id, data).blocked.discard(key)
        self.wake(request.installation_id, data)
        return render("stories/retried.md.j2", user=request.user, key=key, unblocked=unblocked)

    async def idle(self) -> None:
        """Until no pass and no story's work is under way (for tests and shutdown)."""
        while busy := [t for t in self._tasks if t is not asyncio.current_task()]:
            await asyncio.gather(*busy, return_exceptions=True)

    async def close(self) -> None:
        for task in [*self._tasks, *(s.again for s in self._sprints.values() if s.again)]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pass_logged(self, sprint: _Sprint, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        try:
            await self.reconcile(sprint)
        except FAILED as exc:  # the next event, the next pass or the restart retries
            extra = {"repository": sprint.data["full_name"], "error": repr(exc)}
            log.warning("a sprint pass failed", extra=extra)
            self._again(sprint)

    def _again(self, sprint: _Sprint) -> None:
        if sprint.again is None or sprint.again.done():
            sprint.again = asyncio.create_task(self._pass_logged(sprint, self.again_s))

    async def place(self, sprint: _Sprint) -> tuple[Place, StateCommitter]:
        name = str(sprint.data["full_name"])
        github = self.board.github
        gh = await github.clients.installation(sprint.installation_id)
        repo = self.board.repository(sprint.installation_id, sprint.data)
        remote = github.remote(repo.home)
        if sprint.worktrees is None:
            clone, root = repository_dirs(github.data_dir, name)
            sprint.worktrees = Worktrees(clone, root)
        identity = await self.board.stories.identity(gh, github, name)
        place = Place(gh, sprint.data, remote, sprint.worktrees, identity)
        path = repo.path or DEFAULT
        state = StateCommitter(remote, identity, path, repo.home.default_branch,
                               GitHubStatePulls(gh, repo.data))  # fmt: skip
        state.protected = repo.protected
        return place, state

    async def reconcile(self, sprint: _Sprint) -> None:
        """One pass: what the file asks for and GitHub lacks is started."""
        async with sprint.lock:
            sprint.waiting = False
            place, state = await self.place(sprint)
            view = await sprint_view(state)
            if view.tip is None:
                return
            config = await _config(state, view)
            issues = await self.board.stories.existing(place.gh, str(sprint.data["full_name"]))
            pulls = await story_pulls(place.gh, str(sprint.data["full_name"]))
            statuses = dict(view.statuses)
            for key, status in view.statuses.items():
                issue, pull = issues.get(key), pulls.get(key)
                if known(status) == "done":
                    continue  # its issue is closed: that stops nothing now
                if issue is not None and not workable(issue):
                    sprint.blocked.discard(key)  # its label says so now, until a person's retry
                    statuses[key] = None  # blocked or closed: neither started nor done
                    continue
                if key in sprint.blocked:  # its label is not seen yet, or it has no issue
                    statuses[key] = None
                    continue
                if key in sprint.work or pull is None:
                    continue
                number = int(issue["number"]) if issue else None
                if known(status) in ("ready-for-dev", "in-progress") and _ready(pull):
                    await state.commit([Change(key, "review")])  # delivered before a restart
                    follow = self._follow(sprint, key, int(pull["number"]), number, config)
                    self._work(sprint, key, follow)
                elif known(status) == "review" and (_ready(pull) or pull.get("merged_at")):
                    follow = self._follow(sprint, key, int(pull["number"]), number, config)
                    self._work(sprint, key, follow)
            running = [k for k in sprint.work if known(statuses.get(k)) != "review"]
            plan = schedule(statuses, view.deps, running, config.max_concurrent_agents)
            if isinstance(plan, DependencyCycle):
                extra = {"repository": sprint.data["full_name"], "cycle": plan.text()}
                log.warning("a dependency cycle keeps stories from starting", extra=extra)
                await cycle_escalation(place, self.board.github.app_id, plan.keys)
                return
            for key in plan.start:
                if key in sprint.work:
                    continue
                issue = issues.get(key)
                number = int(issue["number"]) if issue else None
                self._work(sprint, key, self._deliver(sprint, key, statuses[key], number))

    def _work(self, sprint: _Sprint, key: str, work: Coroutine[Any, Any, None]) -> None:
        async def logged() -> None:
            try:
                await work
            except FAILED as exc:
                log.warning("a story's step failed",
                            extra={"repository": sprint.data["full_name"], "story": key,
                                   "error": repr(exc)})  # fmt: skip
                self._again(sprint)
            finally:
                sprint.work.pop(key, None)

        sprint.work[key] = self._spawn(logged())

    async def _deliver(
        self, sprint: _Sprint, key: str, status: str | None, issue: int | None
    ) -> None:
        place, state = await self.place(sprint)
        if known(status) == "ready-for-dev":
            await state.commit([Change(key, "in-progress", seen="ready-for-dev")])
        log.info("a story started", extra={"repository": sprint.data["full_name"], "story": key})
        if (head := await branch_head(place, f"story/{key}")) is not None:  # a retry
            await show_story_check(place, key, head, "started")
        result = await deliver(place, self.means, key, issue)
        head = await branch_head(place, result.branch)
        if isinstance(result, Delivered):
            if head is not None:
                await show_story_check(place, key, head, "verified", command=result.run.command)
            await state.commit([Change(key, "review", seen="in-progress")])
        elif isinstance(result, Blocked):
            if head is not None:
                await show_story_check(place, key, head, "blocked", reason=result.reason)
            sprint.blocked.add(key)  # until a person retries (its issue's label says so too)
            await escalate(
                place, self.board.github.app_id, key, issue, result.text(), result.branch
            )
        self.board.wake(sprint.installation_id, sprint.data)  # the labels follow the file
        self.wake(sprint.installation_id, sprint.data)

    async def _follow(
        self, sprint: _Sprint, key: str, number: int, issue: int | None, config: AgentsConfig
    ) -> None:
        """A ready pull request: reviewed once per head, a review addressed, else merged."""
        place, state = await self.place(sprint)
        pull = await place.gh.getitem(f"/repos/{sprint.data['full_name']}/pulls/{number}")
        if pull.get("state") == "open":
            head = str(pull["head"]["sha"])
            check = await find_check(place, head, review_external(key, head))
            if check is None or check.get("status") != "completed":
                await review_pull(place, self.means, key, number)
            addressed = await address(place, self.means, key, number, state)
            if isinstance(addressed, Addressed):
                self.wake(sprint.installation_id, sprint.data)  # the reviewer looks again
                return
            if isinstance(addressed, Escalated):
                branch = f"story/{key}"
                await escalate(
                    place, self.board.github.app_id, key, issue, addressed.reason, branch
                )
                return
        merged = await merge_story(
            place, key, number, auto_merge=config.auto_merge, method=config.merge_method,
            state=state, issue=issue,
        )  # fmt: skip
        if isinstance(merged, Merged):
            log.info("a story merged", extra={"repository": sprint.data["full_name"], "story": key})
            self.board.wake(sprint.installation_id, sprint.data)
            self.wake(sprint.installation_id, sprint.data)
        elif isinstance(merged, Conflicted):
            reason = f"the branch conflicts with its base in {', '.join(merged.files)}"
            await escalate(place, self.board.github.app_id, key, issue, reason, f"story/{key}")
        else:
            self._again(sprint)  # CI or a person: the webhook wakes it, this if it is lost


def _ready(pull: dict[str, Any]) -> bool:
    return pull.get("state") == "open" and not pull.get("draft")


async def story_pulls(gh: GitHubAPI, repository: str) -> dict[str, dict[str, Any]]:
    """Each story's pull request by its head branch `story/<key>`: the open one, else the
    merged one."""
    found: dict[str, dict[str, Any]] = {}
    async for pull in gh.getiter(f"/repos/{repository}/pulls?state=all&per_page=100"):
        ref = str(pull["head"]["ref"])
        if not ref.startswith("story/"):
            continue
        key = ref.removeprefix("story/")
        kept = found.get(key)
        if kept is None or (kept.get("state") != "open" and (
                pull.get("state") == "open" or pull.get("merged_at"))):  # fmt: skip
            found[key] = dict(pull)
    return found


async def _config(state: StateCommitter, view: SprintView) -> AgentsConfig:
    assert view.tip is not None
    raw = await read_file(state.remote.clone, view.tip, CONFIG_PATH)
    text = raw.decode("utf-8", errors="replace") if raw else ""
    return parse_config(text, {}, check_models=False)
