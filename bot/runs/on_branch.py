"""What a run leaves on its branch, made by the worker in its checkout: a commit by the App
for each finished step, and beside the outputs the run's state and its decision log.

Local git only (no network, no token): the server pushes what is committed here. The worker
is a process of its own, so git runs synchronously, between two steps.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
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
