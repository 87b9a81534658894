"""What a run leaves on its branch, made by the worker in its checkout: a commit by the App
for each finished step, and beside the outputs the run's state and its decision log.

Local git only (no network, no token): the server pushes what is committed here. The worker
is a process of its own, so git runs synchronously, between two steps.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.engine.checkpoint import Checkpoint, atomic_write
from bot.git.remote import GitFailed, Identity, environment
from bot.runs.github_home import state_folder
from bot.runs.publish import commit_message, decision_log


def _git(checkout: Path, *args: str, identity: Identity | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", "-c", "core.hooksPath=/dev/null", *args],  # noqa: S607 - git from PATH
        cwd=checkout,
        env=environment(identity=identity),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise GitFailed(tuple(args), done.returncode, done.stderr)
    return done.stdout


def commit_step(
    checkout: Path, identity: Identity, workflow: str, number: int, goal: str
) -> str | None:
    """Commit what the step changed as the App (`create-prd: step 3 — …`); its sha, or None
    when the step changed nothing."""
    _git(checkout, "add", "--all")
    if not _git(checkout, "status", "--porcelain").strip():
        return None
    _git(checkout, "commit", "--quiet", "-m", commit_message(workflow, number, goal),
         identity=identity)  # fmt: skip
    return _git(checkout, "rev-parse", "HEAD").strip()


def write_state(
    checkout: Path,
    branch: str,
    run_id: str,
    checkpoint: Checkpoint,
    answers: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, str]:
    """The run's state (its checkpoint, named by the run) and its decision log, beside the
    outputs on the branch; their repository paths."""
    folder = state_folder(branch)
    state = {"run_id": run_id, "branch": branch, "checkpoint": json.loads(checkpoint.to_json())}
    log = decision_log(checkpoint.workflow, checkpoint.decisions, answers)
    atomic_write(checkout / folder / "run.json", (json.dumps(state, indent=1) + "\n").encode())
    atomic_write(checkout / folder / "decisions.md", (log + "\n").encode())
    return f"{folder}/run.json", f"{folder}/decisions.md"


class BranchKeeper:
    """A GitHub run's checkout kept as its branch, in the worker: each finished step is a
    commit (announced, so the server pushes it), and the end adds the run's state and
    decision log. The executor tells it when a step starts: the one before is then done."""

    def __init__(
        self,
        checkout: Path,
        workflow: str,
        total_steps: int,
        identity: Identity,
        run_id: str,
        emit: Callable[[dict[str, Any]], None],
        cost: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.checkout = checkout
        self.workflow = workflow
        self.total_steps = total_steps
        self.identity = identity
        self.run_id = run_id
        self.emit = emit
        self.cost = cost
        self.branch = _git(checkout, "rev-parse", "--abbrev-ref", "HEAD").strip()
        self.number = 0
        self.goal = ""
        self.steps_done: list[str] = []

    def step_started(self, goal: str) -> None:
        self._commit_current()
        self.number += 1
        self.goal = goal
        self.emit({"event": "step", "step": self.number, "steps": self.total_steps,
                   "goal": goal, "cost_usd": round(self.cost(), 4)})  # fmt: skip

    def _commit_current(self) -> None:
        if self.number == 0:
            return
        sha = commit_step(self.checkout, self.identity, self.workflow, self.number, self.goal)
        self.steps_done.append(f"{self.goal or f'step {self.number}'}")
        if sha is not None:
            self.emit({"event": "committed", "sha": sha, "step": self.number,
                       "steps": self.total_steps, "goal": self.goal,
                       "cost_usd": round(self.cost(), 4)})  # fmt: skip

    def finish(
        self, checkpoint: Checkpoint, outputs: Sequence[str], answers: Sequence[Mapping[str, Any]]
    ) -> None:
        """The last step's commit, then the run's state and decision log in one more; the
        summary the pull request is made from goes to the server."""
        self._commit_current()
        self.number = 0
        _, log_path = write_state(self.checkout, self.branch, self.run_id, checkpoint, answers)
        _git(self.checkout, "add", "--all")
        if _git(self.checkout, "status", "--porcelain").strip():
            message = f"{self.workflow}: the run's state and decision log"
            _git(self.checkout, "commit", "--quiet", "-m", message, identity=self.identity)
        self.emit({
            "event": "summary",
            "branch": self.branch,
            "outputs": list(outputs),
            "steps_done": self.steps_done,
            "decisions": checkpoint.decisions,
            "answers": list(answers),
            "log_path": log_path,
            "cost_usd": round(self.cost(), 4),
        })  # fmt: skip
