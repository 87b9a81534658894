"""People steer runs from comments: `/ao answer`, `pause`, `resume`, `cancel`, `retry`,
`budget`, and an escalation issue closed without an answer.

On a run's home issue (or its escalation issue) a command acts on that run; elsewhere it
names the run by its branch (`/ao pause ao/12-create-prd`). The handler has checked write
access; `budget` asks for admin here. Each answer is one short comment; a command that does
not fit the run's state is explained and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from bot.commands.registry import CommandRegistry, CommandRequest, CommandSpec
from bot.github.markers import marker, written_by_app
from bot.runs import steerstore
from bot.runs.escalations import choice, is_question
from bot.runs.github_home import GITHUB_TROUBLE, GitHubHome, Home
from bot.runs.jobs import Job
from bot.runs.runner import Runner
from bot.runs.states import FINISHED
from bot.runs.steerstore import GivenAnswer, SteerRefused
from bot.templates import render

log = logging.getLogger(__name__)
MAX_BUDGET_USD = 10_000.0
QUESTION_WAITS, QUESTION_WAIT_S = 60, 0.25
_ASKED = re.compile(r"<!-- ao:escalation:([A-Za-z0-9._-]+)\.(\d+) -->")


class Steering:
    """The steering commands, on the runs the runner holds."""

    def __init__(self, github: GitHubHome, runner: Callable[[], Runner | None]) -> None:
        self.github = github
        self._runner = runner
        #: `/ao retry` on a story's issue (None: the issue is no story's): the sprint's.
        self.story_retry: Callable[[CommandRequest], Awaitable[str | None]] | None = None

    def add_to(self, registry: CommandRegistry) -> None:
        for name, usage, summary, run, args in (
            ("answer", "/ao answer N|TEXT", "answer a run's question", self.answer, 200),
            ("pause", "/ao pause [BRANCH]", "pause a run at its next step", self.pause, 1),
            ("resume", "/ao resume [BRANCH]", "go on with a paused run", self.resume, 1),
            ("cancel", "/ao cancel [BRANCH]", "stop a run, keeping its branch", self.cancel, 1),
            ("retry", "/ao retry [BRANCH]", "continue a failed or cancelled run", self.retry, 1),
            ("budget", "/ao budget USD [BRANCH]", "admin: raise a run's budget", self.budget, 2),
        ):
            registry.add(CommandSpec(name, usage, summary, run, max_args=args))

    # Finding the run -----------------------------------------------------------------

    async def job_of_run(self, repository: str, run_id: str) -> Job | None:
        """The newest job of a run (a check run names it by `external_id`)."""
        found = [j for j in await self._jobs(repository) if (j.home or {}).get("run_id") == run_id]
        return found[0] if found else None

    async def merge_run(self, job: Job, by: str) -> str:
        """A finished run's pull request merged by the bot, as a person approved it."""
        home = Home.from_json(job.home or {})
        gh = await self.github.clients.installation(home.installation_id)
        owner = home.repository.split("/")[0]
        head = quote(f"{owner}:{job.branch}", safe="")
        pulls = await gh.getitem(f"/repos/{home.repository}/pulls?state=open&head={head}")
        if not job.branch or not pulls:
            return "there is no open pull request of this run to merge."
        pull = pulls[0]
        await gh.put(
            f"/repos/{home.repository}/pulls/{pull['number']}/merge",
            data={"merge_method": "merge", "sha": pull["head"]["sha"],
                  "commit_title": f"{pull['title']} (#{pull['number']})",
                  "commit_message": f"approved by @{by}"},
        )  # fmt: skip
        return f"merged #{pull['number']}."

    async def _jobs(self, repository: str) -> list[Job]:
        runner = self._runner()
        if runner is None:
            return []
        jobs = await runner.queue.listing(None, 1000)
        return [j for j in jobs if j.repository == repository and j.home is not None]

    async def _target(self, request: CommandRequest, named: str | None) -> Job:
        """The run a command is about, or SteerRefused saying how to name it."""
        jobs = await self._jobs(request.repository)
        if named is not None:
            found = [j for j in jobs if j.branch == named]
            if not found:
                raise SteerRefused(f"no run has the branch `{_tame(named)}`")
            return found[0]
        asked = [j for j in jobs if (j.escalation or {}).get("issue") == request.issue_number]
        here = asked or [j for j in jobs if (j.home or {}).get("issue") == request.issue_number]
        live = [j for j in here if j.state not in FINISHED]
        if len(live) > 1:
            branches = ", ".join(f"`{j.branch}`" for j in live if j.branch)
            raise SteerRefused(f"more than one run is going on here; name one: {branches}")
        if live or here:
            return (live or here)[0]  # listing is newest first
        raise SteerRefused(
            "no run lives here; name one by its branch (`/ao pause ao/12-create-prd`)"
        )

    async def _questioned(self, request: CommandRequest) -> Job:
        """The paused run whose question this issue is, or the one question open here.

        The question's issue is opened just before its run's pause is recorded: an answer
        in between waits (briefly) for the pause of the run its issue names."""
        asking = await self._asking_run(request)
        for _ in range(QUESTION_WAITS):
            jobs = await self._jobs(request.repository)
            if asking is not None:
                found = [j for j in jobs if (j.home or {}).get("run_id") == asking[0]]
                if found and found[0].state == "running":
                    await asyncio.sleep(QUESTION_WAIT_S)
                    continue
                number = (found[0].escalation or {}).get("number") if found else None
                if found and found[0].state == "paused" and number == asking[1]:
                    return found[0]
                raise SteerRefused("this question was answered already, or its run has ended")
            waiting = [j for j in jobs if j.state == "paused" and is_question(j.escalation)]
            home = [j for j in waiting if (j.home or {}).get("issue") == request.issue_number]
            if len(home) == 1:
                return home[0]
            if home:
                raise SteerRefused(
                    "more than one question is open here: answer each on its own issue"
                )
            if not any(
                j.state == "running" and (j.home or {}).get("issue") == request.issue_number
                for j in jobs
            ):
                break
            await asyncio.sleep(QUESTION_WAIT_S)
        raise SteerRefused("no question is waiting for an answer here")

    async def _asking_run(self, request: CommandRequest) -> tuple[str, int] | None:
        """(run id, escalation number) when the command is on a run's escalation issue, as
        the App's own marker in it says."""
        if request.installation_id is None:
            return None
        gh = await self.github.clients.installation(request.installation_id)
        issue = await gh.getitem(f"/repos/{request.repository}/issues/{request.issue_number}")
        if not written_by_app(issue, self.github.app_id):
            return None
        found = _ASKED.search(str(issue.get("body") or ""))
        return (found.group(1), int(found.group(2))) if found else None

    # Commands --------------------------------------------------------------------------

    async def answer(self, request: CommandRequest) -> str:
        runner = self._runner()
        typed = " ".join(request.command.args)
        if runner is None:
            return render("runs/not_here.md.j2")
        if not typed:
            return _refused("say the answer: `/ao answer 2` (an option) or `/ao answer TEXT`")
        comment = str(request.comment_id)
        given = await runner.queue.transaction(lambda c: steerstore.find_answer(c, comment))
        if given is None:  # else: recorded before a restart; the rest is done again, once
            try:
                job = await self._questioned(request)
                escalation = job.escalation or {}
                value, shown = choice(escalation, typed)
                issue = escalation.get("issue")
                number = int(escalation.get("number") or 0)
                where = int(issue) if issue else None
                given = GivenAnswer(comment, job.id, number, where, value, shown, request.user)
                now = runner.queue.clock()
                await runner.queue.transaction(lambda c: steerstore.answer(c, given, now)[0])
            except SteerRefused as refused:
                return _refused(str(refused))
        runner.wake()
        found = await runner.queue.find(given.job_id)
        assert found is not None and found.home is not None
        job, home = found, Home.from_json(found.home)
        if given.issue is not None:
            body = render("runs/escalation_answered.md.j2", by=given.by, shown=given.shown,
                          workflow=job.workflow, step=_step(job), issue=home.issue)  # fmt: skip
            await self._close(home, given.issue, body, marker("answered", comment), "completed")
        return render("runs/steered.md.j2", action="answer", job=job, answer=given.shown,
                      issue=home.issue, escalation=given.issue)  # fmt: skip

    async def pause(self, request: CommandRequest) -> str:
        return await self._steer(request, "pause")

    async def resume(self, request: CommandRequest) -> str:
        return await self._steer(request, "resume")

    async def cancel(self, request: CommandRequest) -> str:
        return await self._steer(request, "cancel")

    async def retry(self, request: CommandRequest) -> str:
        if self.story_retry is not None and not request.command.args:
            said = await self.story_retry(request)
            if said is not None:
                return said
        return await self._steer(request, "retry")

    async def budget(self, request: CommandRequest) -> str:
        args = request.command.args
        try:
            usd = float(args[0].removeprefix("$")) if args else math.nan
        except ValueError:
            usd = math.nan
        if not (0 < usd <= MAX_BUDGET_USD):
            return _refused(f"say the budget in US dollars, up to {MAX_BUDGET_USD:,.0f}: "
                            "`/ao budget 5`")  # fmt: skip
        if not await self._is_admin(request):
            return _refused(f"only an admin of {request.repository} can raise a run's budget")
        return await self._steer(request, "budget", usd=usd, named=args[1:])

    async def _steer(
        self, request: CommandRequest, action: str, *, usd: float = 0.0, named: Any = None
    ) -> str:
        runner = self._runner()
        if runner is None:
            return render("runs/not_here.md.j2")
        names = request.command.args if named is None else named
        by, lifted = request.user, False
        try:
            job = await self._target(request, names[0] if names else None)
            now = runner.queue.clock()
            if action == "pause":
                job = await runner.queue.transaction(lambda c: steerstore.pause(c, job.id, by, now))
            elif action == "resume":
                job = await runner.queue.transaction(lambda c: steerstore.resume(c, job.id, by))
            elif action == "cancel":
                was = job
                job = await runner.queue.transaction(
                    lambda c: steerstore.cancel(c, job.id, by, now)
                )
                if job.state == "cancelled":
                    await self._cancelled(was, job, f"@{by} cancelled the run.")
            elif action == "retry":
                job = await runner.queue.transaction(lambda c: steerstore.retry(c, job.id))
            else:
                job, lifted = await runner.queue.transaction(
                    lambda c: steerstore.budget(c, job.id, usd, by)
                )
        except SteerRefused as refused:
            return _refused(str(refused))
        runner.wake()
        if action == "pause" and job.state == "paused":
            await self._show(job, goal=f"paused by @{by}")
        return render("runs/steered.md.j2", action=action, job=job, usd=usd, lifted=lifted,
                      issue=(job.home or {}).get("issue"))  # fmt: skip

    async def escalation_closed(self, repository: str, issue: dict[str, Any], by: str) -> None:
        """A person closed a run's question without answering it: the run is cancelled."""
        runner = self._runner()
        asked = _ASKED.search(str(issue.get("body") or ""))
        if runner is None or asked is None:
            return
        run_id, number = asked.group(1), int(asked.group(2))
        for _ in range(QUESTION_WAITS):  # its pause may not be recorded yet
            found = [j for j in await self._jobs(repository) if j.home.get("run_id") == run_id]  # type: ignore[union-attr]
            if not found or found[0].state != "running":
                break
            await asyncio.sleep(QUESTION_WAIT_S)
        if not found or found[0].state != "paused":
            return
        job = found[0]
        if (job.escalation or {}).get("number") != number:
            return  # answered: the App closes it itself, and only a person's close cancels
        now = runner.queue.clock()
        try:
            done = await runner.queue.transaction(lambda c: steerstore.cancel(c, job.id, by, now))
        except SteerRefused:
            return
        note = render("runs/closed_note.md.j2", by=by, number=issue["number"])
        await self._cancelled(job, done, note)

    # Helpers ---------------------------------------------------------------------------

    async def _cancelled(self, was: Job, job: Job, note: str) -> None:
        """A waiting run cancelled: its open question closed with a note, its status said."""
        issue = (was.escalation or {}).get("issue")
        if issue and was.home is not None:
            home = Home.from_json(was.home)
            body = render("runs/escalation_dropped.md.j2", workflow=was.workflow,
                          why="cancelled", issue=home.issue)  # fmt: skip
            await self._close(home, int(issue), body, marker("dropped", str(job.id)), "not_planned")
        await self._show(job, note=note, error="")

    async def _close(self, home: Home, number: int, body: str, mark: str, reason: str) -> None:
        try:
            await self.github.close_escalation(home, number, body=body, mark=mark, reason=reason)
        except GITHUB_TROUBLE as exc:
            extra = {"repository": home.repository, "issue": number, "error": repr(exc)}
            log.error("closing an escalation issue failed", extra=extra)

    async def _show(self, job: Job, **changes: Any) -> None:
        try:
            await self.github.show_job(job, **changes)
        except GITHUB_TROUBLE as exc:
            log.error("the status comment could not be updated",
                      extra={"job": job.id, "error": repr(exc)})  # fmt: skip

    async def _is_admin(self, request: CommandRequest) -> bool:
        if request.installation_id is None:
            return False
        gh = await self.github.clients.installation(request.installation_id)
        answer = await gh.getitem(
            f"/repos/{request.repository}/collaborators/{{username}}/permission",
            {"username": request.user},
        )
        return bool(answer.get("permission") == "admin")


def _refused(why: str) -> str:
    return render("runs/steer_refused.md.j2", why=why)


def _step(job: Job) -> str:
    return str((job.escalation or {}).get("step") or "")


def _tame(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in "/-_.")[:80]
