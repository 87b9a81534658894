"""One job's life on GitHub, followed by the runner: its checkout before the worker starts, a
push and a status update for each step the worker commits, and at the end the pull request
(when done) or the question's issue (when it waits for a person), and the final status."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from bot.git.remote import GitFailed, git
from bot.runs.checks import show_check
from bot.runs.escalations import is_question
from bot.runs.github_home import GITHUB_TROUBLE, STATUS_WAIT_S, STATUS_WAITS, GitHubHome, Home
from bot.runs.jobs import Job, Outcome
from bot.runs.publish import RunView, pull_request
from bot.templates import render

log = logging.getLogger(__name__)


class Follower:
    """One job's life on GitHub, followed by the runner: the checkout before the worker
    starts, a push and a status update for each step the worker commits, and at the end
    the pull request (when done) and the final status."""

    def __init__(self, github: GitHubHome, home: Home, job: Job) -> None:
        self.github = github
        self.home = home
        self.job = job
        self.checkout = Path(job.checkout)
        self.branch = ""
        self.view = RunView(home.run_id, job.workflow, "running", home.issue, home.started_by)
        self.summary: dict[str, Any] = {}
        self._checked = ""  # the commit whose check run shows the run now

    async def start(self) -> dict[str, str]:
        """Prepare the checkout (GitHubHome.prepare); the worker's extra environment (who
        commits). Raises what GitHub or git raised: the runner retries the job later."""
        self.branch = await self.github.prepare(self.home, self.job.workflow, self.checkout)
        self.view = dataclasses.replace(
            self.view, branch=self.branch, branch_url=self._branch_url()
        )
        # The status comment is the command's answer, posted just after the job was queued;
        # the App's bot user (who commits) is read from it.
        comment = None
        for _ in range(STATUS_WAITS):
            comment = await self.github.show(self.home, self.view, always=True)
            if comment is not None:
                break
            await asyncio.sleep(STATUS_WAIT_S)
        identity = self.github.identity_from(comment or {})
        return {"AO_COMMIT_NAME": identity.name, "AO_COMMIT_EMAIL": identity.email}

    async def record(self, record: dict[str, Any]) -> None:
        """A worker's record: progress shown (debounced), each committed step pushed."""
        event = record.get("event")
        if event == "summary":
            self.summary = record
            return
        if event not in ("step", "committed"):
            return
        self.view = dataclasses.replace(
            self.view,
            step=int(record.get("step") or 0),
            steps=int(record.get("steps") or 0),
            goal=str(record.get("goal") or ""),
            persona=str(record.get("persona") or self.view.persona),
            cost_usd=float(record.get("cost_usd") or 0.0),
        )
        try:
            if event == "committed":
                await self.github.push(self.home, self.checkout, self.branch)
                await self._check(str(record.get("sha") or ""))
            await self._show()
        except GITHUB_TROUBLE as exc:  # the next push carries this step too
            log.warning("following a run on GitHub failed", extra=self._extra(exc))

    async def finish(self, outcome: Outcome) -> Outcome:
        """Push what is left; the pull request when the run is done, the escalation issue when
        it waits for an answer; the final status. The outcome, with its issue, to record."""
        changes: dict[str, Any] = {"state": outcome.state, "goal": "", "question_url": ""}
        if outcome.state == "paused" and outcome.escalation:
            question = str(outcome.escalation.get("question") or "")
            changes["question"] = " ".join(question.replace("#", "").split())[:300]
            changes["goal"] = str(outcome.escalation.get("reason") or "")
            if not is_question(outcome.escalation):  # what lifts it, rather than a question
                point = str(outcome.escalation.get("point"))
                changes["question"] = render("runs/status_wait.md.j2", point=point)
        if outcome.state == "paused" and is_question(outcome.escalation):
            assert outcome.escalation is not None
            try:
                issue = await self.github.open_escalation(self.home, self.view, outcome.escalation)
            except GITHUB_TROUBLE as exc:  # the question still shows in the status comment
                log.error("the escalation issue could not be opened", extra=self._extra(exc))
            else:
                escalation = {**outcome.escalation, "issue": issue["number"],
                              "issue_url": issue.get("html_url", "")}  # fmt: skip
                outcome = dataclasses.replace(outcome, escalation=escalation)
                changes["question_url"] = str(issue.get("html_url") or "")
        if outcome.error and outcome.state == "cancelled":
            changes["note"] = f"⏹️ {outcome.error}; its branch is kept: `/ao retry` continues it."
        elif outcome.error:
            changes["error"] = outcome.error
        if "cost_usd" in self.summary:
            changes["cost_usd"] = float(self.summary["cost_usd"])
        try:
            await self.github.push(self.home, self.checkout, self.branch)
            if outcome.state == "done":
                changes["pull_url"] = await self._open_pull()
        except GITHUB_TROUBLE as exc:
            changes["error"] = f"the run finished but GitHub refused its branch or PR: {exc}"
            log.error("finishing a run on GitHub failed", extra=self._extra(exc))
        self.view = dataclasses.replace(self.view, **changes)
        try:
            await self._show()
            await self._check(await self._head())
        except GITHUB_TROUBLE as exc:
            log.error("the status comment could not be updated", extra=self._extra(exc))
        return outcome

    async def _head(self) -> str:
        try:
            return (await git("rev-parse", "HEAD", cwd=self.checkout)).strip()
        except GitFailed:
            return ""

    async def _check(self, sha: str) -> None:
        """The run's `ao/run` check run on the commit its branch is at; the one on the commit
        before is completed (its step is done), so none is left running."""
        if not sha:
            return
        gh = await self.github.clients.installation(self.home.installation_id)
        if self._checked and self._checked != sha:
            await show_check(gh, self.home.repository, self._checked, self.view, later=sha)
        await show_check(gh, self.home.repository, sha, self.view)
        self._checked = sha

    async def _open_pull(self) -> str:
        title, body = pull_request(
            self.view,
            outputs=list(self.summary.get("outputs") or []),
            steps_done=list(self.summary.get("steps_done") or []),
            decisions=list(self.summary.get("decisions") or []),
            answers=list(self.summary.get("answers") or []),
            log_path=str(self.summary.get("log_path") or ""),
        )
        pull = await self.github.open_pull(self.home, self.branch, title, body)
        return str(pull.get("html_url") or "")

    async def _show(self) -> None:
        await self.github.show(self.home, self.view)

    def _branch_url(self) -> str:
        web = self.home.html_url or self.home.clone_url.removesuffix(".git")
        return f"{web}/tree/{self.branch}"

    def _extra(self, exc: BaseException) -> dict[str, Any]:
        return {"job": self.job.id, "repository": self.home.repository, "error": repr(exc)}
