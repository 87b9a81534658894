"""An epic's retrospective, run as a run like any other once every story of the epic is done
and `.github/orchestrator.yml` says `retrospectives: true` (off by default).

The run is the install's retrospective workflow, queued with the job key
`retro:<repository>:<epic>` (so a second pass or a restart queues nothing more) and the epic's
issue as its home: its status comment is there and `/ao` steers it as any run. The status
comment is also the durable sign that it was started: where the queue no longer has the job
(pruned, or the data dir lost) and the comment is there, nothing is started again. When the
run ends `done`, the sprint reconciler writes `epic-N-retrospective: done`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.engine.loader import Project
from bot.github.markers import find_marked_comment
from bot.project.epics import EpicView, retrospectives_due
from bot.project.sprint_edit import Change
from bot.project.state_commit import StateCommitter
from bot.runs.github_home import GitHubHome, Home
from bot.runs.jobs import Job, JobSpec
from bot.runs.publish import RunView, status_comment, status_mark
from bot.runs.runner import Runner
from bot.runs.states import FINISHED

log = logging.getLogger(__name__)

#: The retrospective workflow by the names BMAD's generations give it.
RETRO_WORKFLOWS = ("retrospective", "bmad-retrospective")


def job_key(repository: str, epic: str) -> str:
    return f"retro:{repository}:{epic}"


def run_id(epic: str) -> str:
    """Stable for the epic: its status comment and run branch are found again by it."""
    return f"retro-{epic}"


def retro_workflow(project: Project) -> str | None:
    for name in RETRO_WORKFLOWS:
        found = project.workflow(name)
        if found is not None:
            return found.name
    return None


class Retrospectives:
    """Starts epics' retrospectives through the runner; one per server."""

    def __init__(
        self,
        github: GitHubHome,
        runner: Callable[[], Runner | None],
        default_branch: Callable[[Home], Awaitable[Project]],
        data_dir: Path,
        default_model: str | None,
    ) -> None:
        self.github = github
        self._runner = runner
        self.default_branch = default_branch
        self.data_dir = data_dir
        self.default_model = default_model
        self._shown: set[str] = set()  # job keys whose status comment is known to be there
        self._lacking: set[str] = set()  # `repository@tip`: no retrospective workflow there

    async def follow(
        self, installation_id: int, repository: Mapping[str, Any], state: StateCommitter,
        tip: str, epics: Sequence[EpicView], statuses: Mapping[str, str | None],
        issues: Mapping[str, Mapping[str, Any]], *, start: bool,
    ) -> bool:  # fmt: skip
        """Each finished epic's retrospective started once (`start`: the config turns them
        on), and `done` in the sprint status once its run is; whether the file changed."""
        changed = False
        for epic in retrospectives_due(epics, statuses):
            issue = issues.get(epic.key)
            if issue is None or epic.retrospective is None:
                continue  # the epic's issue comes with the board's next pass
            home = self.home(installation_id, repository, epic.key, int(issue["number"]))
            job = await self.ensure(home, epic.key, tip, start=start)
            if job is not None and job.state == "done":
                change = Change(epic.retrospective, "done", seen=epic.retrospective_status)
                done = await state.commit([change])
                changed = changed or done.sha is not None
        return changed

    def home(self, installation_id: int, repository: Mapping[str, Any], epic: str,
             issue: int) -> Home:  # fmt: skip
        return Home(
            installation_id, str(repository["full_name"]), str(repository["clone_url"]),
            str(repository["default_branch"]), issue, str(repository["owner"]["login"]),
            run_id(epic), str(repository.get("html_url") or ""),
        )  # fmt: skip

    async def job(self, repository: str, epic: str) -> Job | None:
        runner = self._runner()
        return None if runner is None else await runner.queue.find(job_key(repository, epic))

    async def ensure(self, home: Home, epic: str, tip: str, *, start: bool) -> Job | None:
        """The epic's retrospective job: queued now if `start` and it never was, with its
        status comment on the epic's issue; None when there is none (or cannot be)."""
        runner = self._runner()
        if runner is None:
            return None
        key = job_key(home.repository, epic)
        job = await runner.queue.find(key)
        gh = await self.github.clients.installation(home.installation_id)
        mark = status_mark(home.run_id)
        if job is None:
            lacking = f"{home.repository}@{tip}" in self._lacking
            if not start or self.default_model is None or lacking:
                return None
            if await find_marked_comment(gh, home.comments_url, mark, self.github.app_id):
                return None  # started before; its job is gone: a person starts it again
            workflow = retro_workflow(await self.default_branch(home))
            if workflow is None:
                self._lacking.add(f"{home.repository}@{tip}")
                log.warning("retrospectives are on, but the install has no retrospective workflow",
                            extra={"repository": home.repository, "epic": epic})  # fmt: skip
                return None
            spec = JobSpec(
                key=key, repository=home.repository, workflow=workflow,
                checkout=str(self.data_dir / "worktrees" / "runs" / home.run_id),
                llm=self.default_model, home=home.to_json(),
            )  # fmt: skip
            job, _ = await runner.enqueue(spec)  # first: the comment is what says it started
            log.info("an epic's retrospective is queued",
                     extra={"repository": home.repository, "epic": epic})  # fmt: skip
        if key not in self._shown and job.state not in FINISHED:
            if await find_marked_comment(gh, home.comments_url, mark, self.github.app_id) is None:
                view = RunView(home.run_id, job.workflow, "queued", home.issue, home.started_by)
                await gh.post(home.comments_url, data={"body": status_comment(view)})
            self._shown.add(key)
        return job
