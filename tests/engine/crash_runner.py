"""Runs a workflow with the test agent and kills itself (SIGKILL) at a chosen event.

    python -m tests.engine.crash_runner REPO DATA WORKFLOW EVENT N [--resume]

EVENT is "checkpoint" (a step boundary) or "written" (an output written, its checkpoint not
yet saved); the process dies at the N-th such event. Agent calls and file writes are appended
to DATA/calls.log and DATA/writes.log, flushed, so the test can count them across restarts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor
from bot.engine.loader import load
from tests.engine.context_agent import ContextAgent


def main() -> None:
    repo, data, workflow, event, nth = sys.argv[1:6]
    resume = "--resume" in sys.argv
    data_dir = Path(data)
    seen = {"n": 0}

    def on_event(kind: str, details: dict[str, Any]) -> None:
        if kind == "written":
            with (data_dir / "writes.log").open("a") as out:
                out.write(f"{details['path']}\n")
                out.flush()
                os.fsync(out.fileno())
        if kind == event:
            seen["n"] += 1
            if seen["n"] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    executor = Executor(
        load(Path(repo)),
        ContextAgent(data_dir / "calls.log"),
        CheckpointStore(data_dir / "runs"),
        on_event=on_event,
    )
    result = asyncio.run(executor.run(workflow, resume=resume))
    print(result.status)


if __name__ == "__main__":
    main()
