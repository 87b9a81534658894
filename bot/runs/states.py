"""A run's state: one set of words for the queue, the CLI, comments and summaries."""

from __future__ import annotations

from typing import Literal, get_args

#: queued: waiting for a slot; running: a worker has it; paused: waiting for a person's answer;
#: done, failed, cancelled: finished.
RunState = Literal["queued", "running", "paused", "done", "failed", "cancelled"]

RUN_STATES: tuple[RunState, ...] = get_args(RunState)
FINISHED: frozenset[RunState] = frozenset({"done", "failed", "cancelled"})
#: What a worker reports when it stops: a run never ends "queued" or "running".
OUTCOMES: frozenset[RunState] = frozenset({"paused", "done", "failed", "cancelled"})


def run_state(value: str) -> RunState:
    """`value` as a RunState, or ValueError naming the words there are."""
    for state in RUN_STATES:
        if value == state:
            return state
    raise ValueError(f"{value!r} is not a run state (one of: {', '.join(RUN_STATES)})")
