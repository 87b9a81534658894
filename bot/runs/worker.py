"""One job's run in its own process: `python -m bot.runs.worker QUEUE JOB TOKEN DATA_DIR PARENT`.

The runner starts a worker per job, so a run's file I/O, CPU and memory never touch the
server's event loop. The worker reads its job from the queue, composes the run as
`orchestrator run` does (bot/runs/compose.py), goes on from the job's checkpoint, stops at a
step boundary when the job is cancelled, and reports on stdout, one JSON object a line:
`{"event": "step", ...}` as steps start, then `{"outcome": {...}}`. It never writes the
queue: the runner records the outcome under its lease. It dies with the runner.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import fcntl
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from bot.agents.personas import persona_for
from bot.engine.checkpoint import CheckpointError, CheckpointStore
from bot.engine.executor import Executor, RunError, RunOutcome, run_id_for
from bot.engine.loader import Project, load
from bot.engine.model import Workflow
from bot.engine.tasks import TaskMismatch
from bot.git.remote import GitFailed, Identity
from bot.llm.errors import LLMError
from bot.llm.ledger import CostLedger
from bot.logs import configure_logging
from bot.runs import jobstore, leases
from bot.runs.compose import agent_for, config_for, confinement_of, policy_for
from bot.runs.escalations import pending_of, with_context
from bot.runs.github_home import RUNS_FOLDER
from bot.runs.jobs import Job, Outcome, job_dir
from bot.runs.on_branch import BranchKeeper, adopt
from bot.runs.resumed import Told, apply_person
from bot.runs.steerstore import PAUSE_POINT, GivenAnswer, answer_of

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
WORKER_NICENESS = 10


class Stop(Exception):
    """The job was cancelled, or its lease went to another runner; raised at a step
    boundary."""


def die_with_parent(parent: int) -> None:
    """Linux: be SIGKILLed when the runner dies, so a restarted runner never finds this
    worker still writing the checkpoint it takes over."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the runner died before the line above
        os._exit(1)


def private_to(data_dir: Path, checkout: Path, here: Path) -> Path:
    """What the agents must never see: the data dir, or, where the checkout is a worktree
    inside it (so nothing else of it is in the agents' reach), the job's own folder."""
    if checkout.resolve().is_relative_to(data_dir.resolve()):
        return here
    return data_dir


def hold_exclusively(path: Path) -> None:
    """Lock the job's folder for this process's life (the kernel frees it however the
    process ends): a worker whose runner lost the lease is still stopping at its step
    boundary, and the run must never have two writers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # kept open on purpose: released at exit


def emit(record: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(record, default=str) + b"\n")
    sys.stdout.buffer.flush()


def settled_before(store: CheckpointStore, answer: str | None) -> Outcome | None:
    """The outcome an earlier attempt reached but never got recorded (done, or paused with
    no answer since), or None when the run has to go on."""
    found = sorted(store.folder.glob("*.json")) if store.folder.is_dir() else []
    for path in found:
        checkpoint = store.load(path.stem)
        if checkpoint is None:
            continue
        if checkpoint.status == "done":
            return Outcome("done")
        if checkpoint.status == "paused" and answer is None:
            return Outcome("paused", None, pending_of(checkpoint.escalations))
    return None


def run_job(
    job: Job, token: str, data_dir: Path, environ: Mapping[str, str], queue: Path
) -> Outcome:
    """Run the job's workflow from its checkpoint, for as long as `token` is the job's
    lease; the outcome in words a person can act on."""
    checkout = Path(job.checkout)
    if not checkout.is_dir():
        return Outcome("failed", f"the checkout {checkout} does not exist; start the run again")
    project = load(checkout)
    if choices := project.choices(job.workflow):
        return Outcome(
            "failed",
            f"more than one module installs {job.workflow!r}; name one of: {', '.join(choices)}",
        )
    here = job_dir(data_dir, job.id)
    hold_exclusively(here / "lock")
    store = CheckpointStore(here / "runs")
    settled = settled_before(store, job.answer)
    if settled is not None:
        return settled
    monitor = sqlite3.connect(queue, timeout=5)
    ledger = CostLedger()
    keeper = keeper_for(job, project, checkout, environ, ledger, store)
    answer, notice = apply_person(store, run_id_of(project, job), job, given_answer(monitor, job))

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind != "step":
            return
        # A step boundary: the previous step's writes are made and checkpointed (and, for a
        # run from GitHub, committed: a cancelled run keeps what it did on its branch).
        if keeper is not None:
            keeper.step_started(str(data.get("step") or ""), str(data.get("goal") or ""))
        if (why := leases.should_stop(monitor, job.id, token)) is not None:
            raise Stop(why)
        if keeper is None:
            emit({"event": "step", "step": data.get("step"), "goal": data.get("goal")})

    try:
        config = config_for(project, environ, job.llm)
        if job.budget_usd is not None:  # a person's (`/ao budget`) over the repository's
            config = dataclasses.replace(config, llm_budget_usd=job.budget_usd)
        # A run's state and decision log on its branch are the engine's, never an agent's.
        confinement = confinement_of(
            project, private_to(data_dir, checkout, here), checkout / RUNS_FOLDER
        )
        agent = agent_for(job.llm, environ, ledger, project, here, config, confinement)
        executor = Executor(
            project,
            Told(agent, notice),
            store,
            policy=policy_for(config),
            overrides=job.overrides,
            on_event=on_event,
            confinement=confinement,
        )
        result = asyncio.run(executor.run(job.workflow, resume=True, answer=answer))
    except Stop as stop:
        keep(keeper, store, here, {})
        if str(stop).startswith("cancelled"):
            who = str(stop).partition(":")[2]
            by = f"@{who}" if who else "an operator"
            return Outcome("cancelled", f"cancelled by {by} at a step boundary")
        if str(stop).startswith("paused:"):
            by = str(stop).removeprefix("paused:")
            return Outcome("paused", None, {"point": PAUSE_POINT, "reason": f"paused by @{by}"})
        return Outcome("failed", "this worker's lease went to another runner")  # not recorded
    except RunError as exc:
        return Outcome("failed", str(exc))
    except (TaskMismatch, LLMError) as exc:
        return Outcome("failed", f"the model could not be used: {exc}")
    finally:
        monitor.close()
    keep(keeper, store, here, result.outputs)
    return with_context(outcome_of(result), project, result.outputs)


def keeper_for(
    job: Job,
    project: Project,
    checkout: Path,
    environ: Mapping[str, str],
    ledger: CostLedger,
    store: CheckpointStore,
) -> BranchKeeper | None:
    """For a run started from an issue: what keeps its checkout as its branch (adopting the
    state the branch carries, when the run goes on from its branch alone)."""
    if job.home is None:
        return None
    workflow = project.workflow(job.workflow)
    run_id = run_id_of(project, job)
    identity = Identity(
        environ.get("AO_COMMIT_NAME") or "agent-orchestrator[bot]",
        environ.get("AO_COMMIT_EMAIL") or "agent-orchestrator[bot]@users.noreply.github.com",
    )
    keeper = BranchKeeper(
        checkout,
        job.workflow,
        [s.id for s in workflow.steps] if workflow is not None else [],
        identity,
        str(job.home.get("run_id") or job.key),
        emit,
        cost=lambda: ledger.total_usd,
        checkpoint=lambda: store.load(run_id),
        persona=_persona(project, workflow),
    )
    adopt(checkout, keeper.branch, store, run_id)
    return keeper


def _persona(project: Project, workflow: Workflow | None) -> str:
    """`John (pm)`: the persona the workflow's steps go to."""
    persona = persona_for(project.agents, workflow.agent if workflow is not None else None)
    return f"{persona.name} ({persona.title})" if persona.title else persona.name


def keep(
    keeper: BranchKeeper | None, store: CheckpointStore, here: Path, outputs: Mapping[str, str]
) -> None:
    """The last step's commit, the run's state and decision log, and the summary the server
    opens the pull request from."""
    if keeper is None:
        return
    found = sorted(store.folder.glob("*.json")) if store.folder.is_dir() else []
    checkpoint = store.load(found[0].stem) if found else None
    if checkpoint is None:
        return
    log_file = here / "decisions.jsonl"
    answers = (
        [orjson.loads(line) for line in log_file.read_bytes().splitlines() if line.strip()]
        if log_file.is_file()
        else []
    )
    try:
        keeper.finish(checkpoint, sorted(outputs), answers)
    except (GitFailed, OSError) as exc:  # the outcome is still reported; the server says so
        log.error("the run's branch could not be kept", extra={"error": str(exc)})


def outcome_of(result: RunOutcome) -> Outcome:
    if result.status == "paused":
        return Outcome("paused", None, pending_of(result.escalations), result.steps_run)
    return Outcome("done", None, None, result.steps_run)


def run_id_of(project: Project, job: Job) -> str:
    workflow = project.workflow(job.workflow)
    return run_id_for(project.repository, workflow.name if workflow else job.workflow)


def given_answer(conn: sqlite3.Connection, job: Job) -> GivenAnswer | None:
    """The person's answer the job goes on with, as recorded from their comment."""
    number = (job.escalation or {}).get("number")
    if job.answer is None or not isinstance(number, int):
        return None
    return answer_of(conn, job.id, number)


def main(argv: list[str]) -> int:
    queue, job_id, token = Path(argv[0]), int(argv[1]), argv[2]
    data_dir, parent = Path(argv[3]), int(argv[4])
    die_with_parent(parent)
    # Runs are background work: when CPUs are short, the server answering webhooks goes first.
    os.nice(WORKER_NICENESS)
    secrets = [v for k, v in os.environ.items() if k.endswith(("_KEY", "_SECRET", "_TOKEN"))]
    level = os.environ.get("ORCHESTRATOR_LOG_LEVEL", "INFO")
    log_file = os.environ.get("ORCHESTRATOR_LOG_FILE")
    if not log_file:
        configure_logging(level, secrets=secrets)
        return _work(queue, job_id, token, data_dir)
    with open(log_file, "a", encoding="utf-8") as stream:
        handler = configure_logging(level, stream=stream, secrets=secrets)
        try:
            return _work(queue, job_id, token, data_dir)
        finally:
            handler.close()


def _work(queue: Path, job_id: int, token: str, data_dir: Path) -> int:
    conn = sqlite3.connect(queue, timeout=5)
    try:
        job = jobstore.find(conn, job_id)
    finally:
        conn.close()
    if job is None or job.lease_token != token:  # its lease went elsewhere before we began
        emit({"outcome": dataclasses.asdict(Outcome("failed", f"job {job_id} is not ours"))})
        return 1
    try:
        outcome = run_job(job, token, data_dir, os.environ, queue)
    except CheckpointError as exc:
        outcome = Outcome("failed", f"{exc}; cancel this job and start the workflow again")
    except Exception as exc:  # the worker's boundary: whatever it is, the job must say so
        log.exception("run crashed", extra={"job": job_id, "workflow": job.workflow})
        outcome = Outcome(
            "failed",
            f"internal error ({type(exc).__name__}: {exc}); the server log has the"
            " traceback: report it, then start the workflow again",
        )
    emit({"outcome": dataclasses.asdict(outcome)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
