"""Load + validate of the BMAD installs the tests use (target: under 500 ms each).

    .venv/bin/python -m bench.engine [ROUNDS]

Each round loads every install from scratch (a new loader, no cache carried over), in turn,
so machine noise hits them alike; prints the median and the slowest round per install.
"""

from __future__ import annotations

import statistics
import sys
import time

from bot.engine.loader import load
from tests.engine.conftest import VERSIONS, install_path

TARGET_MS = 500.0


def main(rounds: int) -> None:
    timings: dict[str, list[float]] = {v: [] for v in VERSIONS}
    counts: dict[str, tuple[int, int, int]] = {}
    for _ in range(rounds):
        for version in VERSIONS:
            start = time.perf_counter()
            project = load(install_path(version))
            timings[version].append((time.perf_counter() - start) * 1000)
            steps = sum(len(w.steps) for w in project.workflows)
            counts[version] = (len(project.workflows), steps, len(project.errors))
    header = ("install", "workflows", "steps", "errors", "median ms", "max ms")
    print("{:<16} {:>9} {:>6} {:>6} {:>10} {:>8}".format(*header))
    for version, values in timings.items():
        workflows, steps, errors = counts[version]
        median = statistics.median(values)
        verdict = "ok" if median < TARGET_MS else "OVER TARGET"
        print(
            f"{version:<16} {workflows:>9} {steps:>6} {errors:>6} {median:>10.0f} "
            f"{max(values):>8.0f}  {verdict}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
