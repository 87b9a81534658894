"""What a job is: the run it asks for (a spec) and its row in the queue (a job)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bot.runs.states import RunState


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    """A workflow to run on a checkout; `key` makes enqueuing it idempotent.

    `key` is stable across retries of whatever asked for the run (a command's comment id);
    `repository` (`owner/name`) is what the per-repository limit and fairness count by.
    """

    key: str
    repository: str
    workflow: str
    checkout: str
    llm: str | None = None
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The issue the run started from (`github_home.Home` as JSON); None for a local run.
    home: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """A job as the queue holds it."""

    id: int
    key: str
    repository: str
    workflow: str
    checkout: str
    llm: str | None
    overrides: dict[str, str]
    state: RunState
    attempts: int
    lease_owner: str | None
    lease_token: str | None
    lease_expires: float | None
    cancel_requested: bool
    answer: str | None
    progress: str | None
    escalation: dict[str, Any] | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker_pid: int | None
    home: dict[str, Any] | None = None
    branch: str | None = None
    budget_usd: float | None = None
    paused_by: str | None = None
    cancelled_by: str | None = None

    @property
    def spec(self) -> JobSpec:
        return JobSpec(
            self.key,
            self.repository,
            self.workflow,
            self.checkout,
            self.llm,
            self.overrides,
            self.home,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a worker's run of a job ended; `error` is written for the person who reads it."""

    state: RunState
    error: str | None = None
    escalation: dict[str, Any] | None = None
    steps_run: int = 0


def job_dir(data_dir: Path, job_id: int) -> Path:
    """Where a job's checkpoints and decision log live (inside the data dir, so hidden)."""
    return data_dir / "jobs" / str(job_id)
