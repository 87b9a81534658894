"""The sprint's state at 100 epics and 1,000 stories: the status issue's body rendered
(target: under 50 ms), and one status change applied and committed by the App to a local
bare remote (target: p95 at most 500 ms), with the split (fetch, parse, edit, write, commit, push).

    .venv/bin/python -m bench.state [ROUNDS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.git.remote import Identity, Remote
from bot.project.board import Board, epics_of
from bot.project.sprint_edit import Change
from bot.project.sprint_status import parse
from bot.project.state_commit import STEPS, StateCommitter
from bot.project.status_issue import body
from tests.git.conftest import git
from tests.project.sprints import board, sprint_text

RENDER_TARGET_MS = 50
COMMIT_TARGET_MS = 500
PATH = "_bmad-output/implementation-artifacts/sprint-status.yaml"


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def figures(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:6.1f} ms, p95 {p95(samples) * 1000:6.1f} ms, "
        f"slowest {max(samples) * 1000:6.1f} ms"
    )


def render(rounds: int) -> None:
    ready = board(100, 10)
    text = sprint_text(100, 10)
    bodies, whole = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        shown = body(ready)
        bodies.append(time.perf_counter() - started)
        started = time.perf_counter()
        sprint = parse(text)
        body(Board(ready.repository, ready.phase, epics_of(sprint), events=ready.events))
        whole.append(time.perf_counter() - started)
    print(f"status issue, 100 epics / 1,000 stories: {len(shown):,} characters")
    print(f"  render (board → body):          {figures(bodies)} (target < {RENDER_TARGET_MS} ms)")
    print(f"  parse + board + render:         {figures(whole)}")


async def commit(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed"
        (seed / PATH).parent.mkdir(parents=True)
        git(Path(tmp), "init", "-q", "-b", "main", str(seed))
        (seed / PATH).write_text(sprint_text(100, 10))
        (seed / "README.md").write_text("bench\n")
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "sprint planning")
        origin = Path(tmp) / "origin.git"
        git(Path(tmp), "clone", "-q", "--bare", str(seed), str(origin))

        async def token() -> str:
            return "unused-for-a-local-remote"

        remote = Remote(Path(tmp) / "data/clone", str(origin), token)
        await remote.sync()
        committer = StateCommitter(
            remote, Identity("bench[bot]", "bench@example.com"), PATH, "main"
        )
        backlog = [e.key for e in parse(sprint_text(100, 10)).stories() if e.known == "backlog"]
        totals: list[float] = []
        split: dict[str, list[float]] = {step: [] for step in STEPS}
        for key in backlog[:rounds]:
            started = time.perf_counter()
            done = await committer.commit([Change(key, "ready-for-dev")])
            totals.append(time.perf_counter() - started)
            assert done.sha and done.attempts == 1, done
            for step in STEPS:
                split[step].append(done.seconds[step])
        shown = ", ".join(f"{s} {statistics.median(split[s]) * 1000:.1f}" for s in STEPS)
        print(f"one status change committed and pushed to a local bare remote ({rounds} rounds):")
        print(f"  total:                          {figures(totals)} (target p95 <= "
              f"{COMMIT_TARGET_MS} ms)")  # fmt: skip
        print(f"  split, medians in ms:           {shown}")
        print("  p95 of each step in ms:         "
              + ", ".join(f"{s} {p95(split[s]) * 1000:.1f}" for s in STEPS))  # fmt: skip


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    render(rounds)
    asyncio.run(commit(rounds))


if __name__ == "__main__":
    main()
