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

from bot.engine.checkpoint import Checkpoint, CheckpointError, CheckpointStore, atomic_write
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
    saved = json.loads(checkpoint.to_json())
    saved["pending_writes"] = {}  # made already: they are the outputs beside it
    state = {"run_id": run_id, "branch": branch, "checkpoint": saved}
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
        step_ids: Sequence[str],
        identity: Identity,
        run_id: str,
        emit: Callable[[dict[str, Any]], None],
        cost: Callable[[], float] = lambda: 0.0,
        checkpoint: Callable[[], Checkpoint | None] = lambda: None,
        persona: str = "",
    ) -> None:
        self.checkout = checkout
        self.workflow = workflow
        self.step_ids = list(step_ids)
        self.total_steps = len(self.step_ids)
        self.identity = identity
        self.run_id = run_id
        self.emit = emit
        self.cost = cost
        self.checkpoint = checkpoint
        self.persona = persona  # who works the steps, as the status comment names them
        self.branch = _git(checkout, "rev-parse", "--abbrev-ref", "HEAD").strip()
        self.number = 0
        self.goal = ""
        self.steps_done: list[str] = []

    def step_started(self, step: str, goal: str) -> None:
        """`step` is the executor's `workflow:step-id`: its place in the workflow numbers it
        (a run that goes on elsewhere keeps its numbers)."""
        self._commit_current()
        step_id = step.rpartition(":")[2]
        self.number = self.step_ids.index(step_id) + 1 if step_id in self.step_ids else 0
        self.number = self.number or len(self.steps_done) + 1
        self.goal = goal
        self.emit({"event": "step", "step": self.number, "steps": self.total_steps,
                   "goal": goal, "persona": self.persona,
                   "cost_usd": round(self.cost(), 4)})  # fmt: skip

    def _commit_current(self) -> None:
        if self.number == 0:
            return
        # The branch alone is enough to go on elsewhere: each step's commit carries the run's
        # state as it is after that step.
        try:
            saved = self.checkpoint()
        except CheckpointError:  # the run's own store is damaged: the next step says so
            saved = None
        if saved is not None:
            write_state(self.checkout, self.branch, self.run_id, saved)
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
        summary the pull request is made from goes to the server. A run that stopped (paused,
        cancelled) did not finish the step it was at: that step is committed when it is done."""
        if checkpoint.status == "done":
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


def adopt(checkout: Path, branch: str, store: CheckpointStore, run_id: str) -> bool:
    """A run going on from its branch alone (another server, a lost data dir): the state the
    branch carries becomes the run's checkpoint, when the run has none yet. A state that is
    not a valid checkpoint is not adopted (the run then starts from BMAD's own
    `stepsCompleted`, which the step files' outputs keep)."""
    source = checkout / state_folder(branch) / "run.json"
    target = store.path(run_id)
    if target.exists() or not source.is_file():
        return False
    try:
        saved = json.loads(source.read_text(encoding="utf-8"))["checkpoint"]
        saved["run_id"] = run_id
    except (ValueError, KeyError, TypeError, OSError):
        return False
    atomic_write(target, json.dumps(saved).encode())
    try:
        store.load(run_id)
    except CheckpointError:
        target.unlink(missing_ok=True)
        return False
    return True
