"""`/ao start plan`: the planning chain run as one run per workflow, phase after phase.

Phases follow each other through merges, so a later phase always reads the earlier documents
from the default branch. A link's run ends in its pull request; the phase's gate
(`phase_gates` in `.github/orchestrator.yml`, `approve` by default) then decides: `auto`, the
bot merges the pull request itself; `approve`, it waits for a person to merge it or to comment
`/ao approve` (the bot then merges it). Nothing here is remembered apart from what GitHub and
the repository hold: a link is done when its run's state file (`run.json`, merged with its
pull request) is on the default branch; it is under way when the queue has its job (keyed by
the plan and the link, so starting it twice queues nothing more). `advance` compares the two
and does the one next thing, whoever calls it: the `/ao start plan` command, a run's end, a
merged pull request, `/ao approve`, or the server at start-up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from bot.agents.config import CONFIG_PATH, PHASES, ConfigError, parse_config
from bot.engine.loader import Project
from bot.git.remote import GitFailed, git
from bot.github.markers import find_marked_comment, marker
from bot.github.publishing import edit_comment
from bot.project.chain import Link, NoChain, phase_rank, planning_chain, read_catalogue
from bot.runs.github_home import RUNS_FOLDER, GitHubHome, Home, state_folder
from bot.runs.jobs import Job, JobSpec, Outcome
from bot.runs.publish import RunView, status_comment, status_mark
from bot.runs.runner import Runner
from bot.templates import render

log = logging.getLogger(__name__)

#: A phase without a gate in the config waits for a person: planning documents are reviewed.
DEFAULT_GATE = "approve"
PLAN_NAME = "plan"


def plan_mark(plan_id: str) -> str:
    return marker("plan", plan_id)


def link_key(plan_id: str, index: int) -> str:
    return f"plan:{plan_id}:{index}"


def gate_of(link: Link, gates: Mapping[str, str]) -> str:
    """The gate of the phase a link belongs to (`planning` for "2-planning" and "plan")."""
    rank = phase_rank(link.phase) if link.phase else None
    phase = PHASES[rank - 1] if rank else "planning"
    return gates.get(phase, DEFAULT_GATE)


@dataclasses.dataclass
class LinkState:
    link: Link
    gate: str
    state: str = "waiting"  # waiting, queued, running, paused, failed, cancelled, review, merged
    pull: dict[str, Any] | None = None


class Planner:
    """Starts plans and moves them on; one per server, beside the runner."""

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
        self._locks: dict[str, asyncio.Lock] = {}  # one advance at a time per plan

    # Starting --------------------------------------------------------------------------------

    async def start(self, home: Home, project: Project) -> str:
        """`/ao start plan` on `home`'s issue: the plan's comment (the command's answer); its
        first run is queued first, with its own status comment."""
        try:
            chain = planning_chain(project, read_catalogue(project))
            gates = await self._gates_at(home, f"refs/remotes/origin/{home.default_branch}")
        except (NoChain, ConfigError) as exc:
            return render("plans/refused.md.j2", reason=str(exc))
        states = [LinkState(link, gate_of(link, gates)) for link in chain]
        await self._start_link(home, 0, states)
        states[0].state = "queued"
        return self._comment(home, states)

    # Moving on -------------------------------------------------------------------------------

    async def advance(self, home: Home) -> list[LinkState]:
        """Do the next thing the plan needs (start a run, merge an auto-gated pull request),
        and show where it stands in its comment."""
        lock = self._locks.setdefault(home.run_id, asyncio.Lock())
        async with lock:
            states = await self._advance(home)
            await self._show(home, states)
            return states

    async def approve(self, home: Home, by: str) -> str:
        """`/ao approve` on the plan's issue: the pull request waiting for approval, merged
        by the bot; the plan then moves on."""
        states = await self._look(home)
        waiting = next((s for s in states if s.state == "review" and s.pull), None)
        if waiting is None:
            return render("plans/nothing_to_approve.md.j2", states=states)
        assert waiting.pull is not None
        await self._merge(home, waiting.pull, f"approved by @{by}")
        await self.advance(home)
        return render("plans/approved.md.j2", state=waiting, by=by)

    async def on_finished(self, job: Job, outcome: Outcome) -> None:
        """The runner's word that a run ended: a plan's run moves its plan on."""
        plan = (job.home or {}).get("plan")
        if not isinstance(plan, dict) or job.home is None:
            return
        home = Home.from_json(job.home | {"run_id": str(plan["id"])})
        try:
            await self.advance(home)
        except Exception:  # a hook of the runner: the next event or the restart moves it on
            log.exception("moving a plan on failed", extra={"plan": home.run_id})

    async def reconcile(self) -> None:
        """Move every plan on (at start-up: a run's end or a merge heard while the server was
        down, or a hook that failed, only delays a plan)."""
        for home in await self.homes():
            try:
                await self.advance(home)
            except Exception:  # one plan's trouble never stops the others
                log.exception("reconciling a plan failed", extra={"plan": home.run_id})

    async def merged(self, repository: str, head: str) -> None:
        """A pull request from `head` was merged: its plan, if any, moves on."""
        issue = head.removeprefix("ao/").split("-", 1)[0]
        for home in await self.homes():
            if home.repository == repository and str(home.issue) == issue:
                await self.advance(home)

    async def homes(self) -> list[Home]:
        """Every plan the queue knows of, once (for the start-up reconcile and merges)."""
        runner = self._runner()
        if runner is None:
            return []
        found: dict[str, Home] = {}
        for job in await runner.queue.listing(None, 10_000):
            plan = (job.home or {}).get("plan")
            if isinstance(plan, dict) and job.home is not None:
                plan_home = Home.from_json(job.home | {"run_id": str(plan["id"])})
                found.setdefault(plan_home.run_id, plan_home)
        return list(found.values())

    async def _advance(self, home: Home) -> list[LinkState]:
        while True:
            states = await self._look(home)
            nxt = next((i for i, s in enumerate(states) if s.state != "merged"), None)
            if nxt is None:
                return states
            current = states[nxt]
            if current.state == "waiting":
                await self._start_link(home, nxt, states)
                current.state = "queued"
                return states
            if current.state == "review" and current.gate == "auto" and current.pull:
                await self._merge(home, current.pull, "its phase merges itself (phase_gates: auto)")
                continue  # merged: the next link reads it from the default branch
            return states

    async def _look(self, home: Home) -> list[LinkState]:
        """Where each link stands, from the default branch, the queue and the pull requests."""
        project = await self.default_branch(home)  # fetched: the default branch as it is now
        chain = planning_chain(project, read_catalogue(project))
        tip = f"refs/remotes/origin/{home.default_branch}"
        gates = await self._gates_at(home, tip)
        merged = await self._merged_runs(home, tip)
        jobs = await self._jobs(home)
        states = []
        for index, link in enumerate(chain):
            state = LinkState(link, gate_of(link, gates))
            job = jobs.get(link_key(home.run_id, index))
            if f"{home.run_id}.{index}" in merged:
                state.state = "merged"
            elif job is not None and job.state == "done":
                state.state = "review"
                state.pull = await self._pull_of(home, job)
            elif job is not None:
                state.state = job.state
            states.append(state)
        return states

    # GitHub and the queue ----------------------------------------------------------------------

    async def _start_link(self, home: Home, index: int, states: list[LinkState]) -> None:
        runner = self._runner()
        if runner is None:
            raise RuntimeError("the runner is not running")
        link = states[index].link
        run = dataclasses.replace(home, run_id=f"{home.run_id}.{index}")
        # The run's status comment first: the runner only ever edits it.
        view = RunView(run.run_id, link.workflow, "queued", run.issue, run.started_by)
        gh = await self.github.clients.installation(home.installation_id)
        mark = status_mark(run.run_id)
        if await find_marked_comment(gh, home.comments_url, mark, self.github.app_id) is None:
            await gh.post(home.comments_url, data={"body": status_comment(view)})
        spec = JobSpec(
            key=link_key(home.run_id, index),
            repository=home.repository,
            workflow=link.workflow,
            checkout=str(self.data_dir / "worktrees" / "runs" / run.run_id),
            llm=self.default_model,
            home=run.to_json() | {"plan": {"id": home.run_id, "index": index}},
        )
        await runner.enqueue(spec)

    async def _jobs(self, home: Home) -> dict[str, Job]:
        runner = self._runner()
        if runner is None:
            return {}
        prefix = f"plan:{home.run_id}:"
        latest: dict[str, Job] = {}
        for job in await runner.queue.listing(None, 10_000):
            if job.key.startswith(prefix) and job.repository == home.repository:
                latest.setdefault(job.key, job)
        return latest

    async def _pull_of(self, home: Home, job: Job) -> dict[str, Any] | None:
        """The open pull request of a link's run (its branch named in the run's checkout)."""
        gh = await self.github.clients.installation(home.installation_id)
        owner = home.repository.split("/")[0]
        run_id = str((job.home or {}).get("run_id"))
        async for pull in gh.getiter(f"/repos/{home.repository}/pulls?state=open&per_page=100"):
            head = str(pull["head"]["ref"])
            if pull["head"].get("repo", {}).get("owner", {}).get("login") not in (owner, None):
                continue
            if head.startswith(f"ao/{home.issue}-") and await self._branch_is(home, head, run_id):
                return dict(pull)
        return None

    async def _branch_is(self, home: Home, branch: str, run_id: str) -> bool:
        remote = self.github.remote(home)
        try:
            where = f"refs/remotes/origin/{branch}:{state_folder(branch)}/run.json"
            text = await git("show", where, cwd=remote.clone)
            return bool(json.loads(text).get("run_id") == run_id)
        except (GitFailed, ValueError, AttributeError):
            return False

    async def _merge(self, home: Home, pull: dict[str, Any], why: str) -> None:
        gh = await self.github.clients.installation(home.installation_id)
        await gh.put(
            f"/repos/{home.repository}/pulls/{pull['number']}/merge",
            data={"merge_method": "merge", "commit_title": f"{pull['title']} (#{pull['number']})",
                  "commit_message": why, "sha": pull["head"]["sha"]},
        )  # fmt: skip
        log.info("plan phase merged", extra={"plan": home.run_id, "pull": pull["number"]})

    async def _show(self, home: Home, states: list[LinkState]) -> None:
        gh = await self.github.clients.installation(home.installation_id)
        await edit_comment(gh, home.comments_url, plan_mark(home.run_id),
                           self._comment(home, states), self.github.app_id)  # fmt: skip

    def _comment(self, home: Home, states: list[LinkState]) -> str:
        body = render("plans/plan.md.j2", states=states, started_by=home.started_by,
                      done=all(s.state == "merged" for s in states))  # fmt: skip
        return f"{body}\n\n{plan_mark(home.run_id)}"

    async def _gates_at(self, home: Home, tip: str) -> Mapping[str, str]:
        """The phase gates the default branch's config sets (read from git, not a checkout
        another command may be moving)."""
        clone = self.github.remote(home).clone
        try:
            text = await git("show", f"{tip}:{CONFIG_PATH}", cwd=clone)
        except GitFailed:
            return {}  # no config: every gate is the default
        return parse_config(text, {}, check_models=False).phase_gates

    async def _merged_runs(self, home: Home, tip: str) -> set[str]:
        """The run ids whose state files are on the default branch (merged with their PRs)."""
        clone = self.github.remote(home).clone
        try:
            listed = await git("ls-tree", "-r", "--name-only", tip, "--", RUNS_FOLDER, cwd=clone)
        except GitFailed:
            return set()
        found = set()
        for path in listed.splitlines():
            if not path.endswith("/run.json"):
                continue
            try:
                state = json.loads(await git("show", f"{tip}:{path}", cwd=clone))
                found.add(str(state.get("run_id")))
            except (GitFailed, ValueError, AttributeError):
                continue
        return found
