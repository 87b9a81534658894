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
import sqlite3
from collections.abc import Awaitable
from typing import Any

from typing_extensions import override

from bot.agents.config import AgentsConfig
from bot.commands.registry import CommandRequest
from bot.git.worktrees import Worktrees, repository_dirs
from bot.project.board_sync import BoardSync
from bot.project.epics import started
from bot.project.location import DEFAULT
from bot.project.retrospectives import Retrospectives
from bot.project.sprint_edit import Change
from bot.project.state_commit import StateCommitter
from bot.project.state_pull import GitHubStatePulls
from bot.project.statuses import known
from bot.project.story_issues import workable
from bot.project.story_labels import story_key
from bot.runs.jobs import Job, Outcome
from bot.stories.address import Addressed, Escalated, address
from bot.stories.blocked import cycle_escalation, escalate, unblock
from bot.stories.closed import Closings, closed_unmerged, latest_pull, reopen, resume
from bot.stories.compose import Means
from bot.stories.deliver import Blocked, Delivered, Place, deliver
from bot.stories.merge import Conflicted, Merged, finish, merge_story
from bot.stories.order import DependencyCycle, schedule
from bot.stories.passes import FAILED, Passes, Repo
from bot.stories.pull import ready, story_pulls
from bot.stories.review import find_check, review_external, review_pull
from bot.stories.sprint import SprintView, sprint_config, sprint_view
from bot.stories.story_check import branch_head, show_story_check
from bot.templates import render

log = logging.getLogger(__name__)
AGAIN_S = 30.0


@dataclasses.dataclass
class _Sprint(Repo):
    """One repository's sprint: its passes, and what spares asking GitHub again."""

    worktrees: Worktrees | None = None
    state: StateCommitter | None = None  # one for all its stories: their changes group
    blocked: set[str] = dataclasses.field(default_factory=set)
    closings: Closings = dataclasses.field(default_factory=Closings)


class Sprints(Passes[_Sprint]):
    """Every repository's sprint, for one server."""

    def __init__(
        self, board: BoardSync, means: Means, *, again_s: float = AGAIN_S,
        retrospectives: Retrospectives | None = None,
    ) -> None:  # fmt: skip
        super().__init__(again_s)
        self.board = board
        self.means = means
        self.retrospectives = retrospectives  # None: the server runs no runs
        board.after_pass.append(self.wake)

    @override
    def _new(self, installation_id: int, data: dict[str, Any]) -> _Sprint:
        return _Sprint(installation_id, data)

    async def retry(self, request: CommandRequest) -> str | None:
        """`/ao retry` on a story's issue: its closed pull request reopened, unblocked, and
        delivered again from its branch; None when the issue is no story's."""
        if request.installation_id is None:
            return None
        gh = await self.board.github.clients.installation(request.installation_id)
        url = f"/repos/{request.repository}/issues/{request.issue_number}"
        issue = dict(await gh.getitem(url))
        key = story_key(issue, self.board.github.app_id)
        if key is None:
            return None
        data = dict(await gh.getitem(f"/repos/{request.repository}"))
        pull, reopened, resumed = await latest_pull(gh, data, key), None, False
        if pull is not None and closed_unmerged(pull):  # held by it: reopened, then resumed
            if refused := await reopen(gh, pull):
                return render("stories/not_reopened.md.j2", user=request.user, key=key,
                              number=pull["number"], reason=refused)  # fmt: skip
            reopened = int(pull["number"])
            resumed = await resume(gh, self.board.github.app_id, key, issue, pull)
        unblocked = await unblock(gh, url) or resumed
        self._repo(request.installation_id, data).blocked.discard(key)
        self.wake(request.installation_id, data)
        return render("stories/retried.md.j2", user=request.user, key=key, unblocked=unblocked,
                      reopened=reopened)  # fmt: skip

    async def run_finished(self, job: Job, outcome: Outcome) -> None:
        """The runner's word that a run ended: an epic's retrospective is recorded by the
        repository's next pass (after a restart, the start-up pass records it)."""
        sprint = self._repos.get(job.repository)
        if job.key.startswith("retro:") and sprint is not None:
            self.wake(sprint.installation_id, sprint.data)

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
        path, pulls = repo.path or DEFAULT, GitHubStatePulls(gh, repo.data)
        state = sprint.state
        if state is None or (state.path, state.default_branch) != (path, repo.home.default_branch):
            state = sprint.state = StateCommitter(remote, identity, path, repo.home.default_branch)
        state.remote, state.identity, state.pulls = remote, identity, pulls
        state.protected = repo.protected or state.protected
        return place, state

    @override
    async def reconcile(self, sprint: _Sprint) -> None:
        """One pass: what the file asks for and GitHub lacks is started."""
        async with sprint.lock:
            sprint.waiting = False
            sprint.ended.clear()  # from here on, a story whose work ends is the next pass's
            place, state = await self.place(sprint)
            view = await sprint_view(state)
            if view.tip is None:
                return
            config = await sprint_config(state, view)
            issues = await self.board.stories.existing(place.gh, str(sprint.data["full_name"]))
            pulls = await story_pulls(place.gh, str(sprint.data["full_name"]))
            statuses = dict(view.statuses)
            app_id = self.board.github.app_id
            for key, status in view.statuses.items():
                issue, pull = issues.get(key), pulls.get(key)
                if known(status) == "done":
                    if key not in sprint.work and key not in sprint.ended:
                        await finish(place, key, issue)  # what a restart cut short, if any
                    continue  # its issue is closed: that stops nothing now
                if await sprint.closings.held(place.gh, app_id, key, status, issue, pull):
                    if (work := sprint.work.get(key)) is not None:
                        work.cancel()  # its pull request is closed: nothing more is done
                    statuses[key] = None
                    continue
                if await sprint.closings.reopened(place.gh, app_id, key, issue, pull):
                    sprint.blocked.discard(key)  # reopened: it goes on, label off, next pass
                    self.board.wake(sprint.installation_id, sprint.data)
                    self.wake(sprint.installation_id, sprint.data)
                    statuses[key] = None
                    continue
                if issue is not None and not workable(issue):
                    sprint.blocked.discard(key)  # its label says so now, until a person's retry
                    statuses[key] = None  # blocked or closed: neither started nor done
                    continue
                if key in sprint.blocked:  # its label is not seen yet, or it has no issue
                    statuses[key] = None
                    continue
                if key in sprint.work or key in sprint.ended:
                    continue
                if pull is None or closed_unmerged(pull):
                    continue
                number = int(issue["number"]) if issue else None
                if known(status) in ("ready-for-dev", "in-progress") and ready(pull):
                    await state.commit([Change(key, "review")])  # delivered before a restart
                    follow = self._follow(sprint, key, int(pull["number"]), number, config)
                    self._work(sprint, key, follow)
                elif known(status) == "review" and (ready(pull) or pull.get("merged_at")):
                    follow = self._follow(sprint, key, int(pull["number"]), number, config)
                    self._work(sprint, key, follow)
            await self._retrospectives(sprint, state, view, config, issues)
            running = [k for k in sprint.work if known(statuses.get(k)) != "review"]
            ended = [k for k in sprint.ended if k not in sprint.work]  # read before they ended
            plan = schedule(statuses, view.deps, running + ended, config.max_concurrent_agents)
            if isinstance(plan, DependencyCycle):
                extra = {"repository": sprint.data["full_name"], "cycle": plan.text()}
                log.warning("a dependency cycle keeps stories from starting", extra=extra)
                await cycle_escalation(place, app_id, plan.keys)
                return
            for key in plan.start:
                if key in sprint.work or key in sprint.ended:
                    continue
                issue = issues.get(key)
                number = int(issue["number"]) if issue else None
                delivery = self._deliver(sprint, key, statuses[key], number, view, config)
                self._work(sprint, key, delivery)

    async def _retrospectives(
        self, sprint: _Sprint, state: StateCommitter, view: SprintView, config: AgentsConfig,
        issues: dict[str, dict[str, Any]],
    ) -> None:  # fmt: skip
        """Finished epics' retrospectives started and recorded; their trouble never holds the
        stories up (the next pass tries again)."""
        if self.retrospectives is None or view.tip is None:
            return
        try:
            changed = await self.retrospectives.follow(
                sprint.installation_id, sprint.data, state, view.tip, view.epics, view.statuses,
                issues, start=config.retrospectives,
            )  # fmt: skip
        except (*FAILED, sqlite3.Error) as exc:
            extra = {"repository": sprint.data["full_name"], "error": repr(exc)}
            log.warning("an epic's retrospective was not followed", extra=extra)
            self._again(sprint)
            return
        if changed:
            self.board.wake(sprint.installation_id, sprint.data)  # the labels follow the file

    async def _deliver(
        self, sprint: _Sprint, key: str, status: str | None, issue: int | None,
        view: SprintView, config: AgentsConfig,
    ) -> None:  # fmt: skip
        """Story `key` developed to a ready pull request, then followed at once (reviewed,
        merged) in the same task: no pass between them to wait for."""
        place, state = await self.place(sprint)
        changes = started(view.epics, key)  # its epic backlog → in-progress, the same commit
        if known(status) == "ready-for-dev":
            changes.insert(0, Change(key, "in-progress", seen="ready-for-dev"))
        if changes:
            await state.commit(changes)
        log.info("a story started", extra={"repository": sprint.data["full_name"], "story": key})
        if (head := await branch_head(place, f"story/{key}")) is not None:  # a retry
            await show_story_check(place, key, head, "started")
        result = await deliver(place, self.means, key, issue)
        head = await branch_head(place, result.branch)
        if isinstance(result, Delivered):
            t = result.timings
            log.info("a story delivered", extra={
                "repository": sprint.data["full_name"], "story": key,
                "total_s": round(t.total_s, 3), "model_s": round(t.model_s, 3),
                "tests_s": round(t.tests_s, 3),
            })  # fmt: skip
            if head is not None:
                await show_story_check(place, key, head, "verified", command=result.run.command)
            # The reviewer starts beside the status commit (twenty stories' commits queue
            # behind one another), which lands before any merge.
            moving = asyncio.create_task(
                self._moved(sprint, state, Change(key, "review", seen="in-progress"))
            )
            cancelled = False
            try:
                await self._follow(sprint, key, result.pull_number, issue, config, moving)
            except asyncio.CancelledError:
                cancelled = True
                moving.cancel()
                raise
            finally:
                if not cancelled:
                    await moving
        elif isinstance(result, Blocked):
            if head is not None:
                await show_story_check(place, key, head, "blocked", reason=result.reason)
            sprint.blocked.add(key)  # until a person retries (its issue's label says so too)
            await escalate(
                place, self.board.github.app_id, key, issue, result.text(), result.branch
            )
            await self._moved(sprint, state)

    async def _moved(self, sprint: _Sprint, state: StateCommitter, *changes: Change) -> None:
        """A story's status committed, then the labels follow the file, and a pass gives a
        story no longer in development its place."""
        if changes:
            await state.commit(changes)
        self.board.wake(sprint.installation_id, sprint.data)
        self.wake(sprint.installation_id, sprint.data)

    async def _follow(
        self, sprint: _Sprint, key: str, number: int, issue: int | None, config: AgentsConfig,
        before_merge: Awaitable[None] | None = None,
    ) -> None:  # fmt: skip
        """A ready pull request: reviewed once per head, a review addressed, else merged
        (once `before_merge` is done)."""
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
        if before_merge is not None:
            await before_merge
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
            extra = {"repository": sprint.data["full_name"], "story": key, "reason": merged.reason}
            log.debug("a story waits to merge", extra=extra)
            self._again(sprint)  # CI or a person: the webhook wakes it, this if it is lost
