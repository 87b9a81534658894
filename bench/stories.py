"""What a story costs before its agent starts: a worktree on a 10,000-file repository, as a
ratio to a plain `git worktree add` in the same run (target: at most 1.2x), and the sandbox's
start-up cost per test run (`true` through the sandbox against `sh -c true` unsandboxed).

    .venv/bin/python -m bench.stories [ROUNDS] [FILES]

Rounds alternate which of the two goes first, so the page cache and machine noise hit both
alike; prints the median and slowest of each.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.git.worktrees import Worktrees, repository_dirs
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN
from bot.sandbox.policy import Limits, Mode
from bot.sandbox.runner import Sandbox
from tests.git.conftest import GIT_ENV, REPO, make_clone

TARGET_RATIO = 1.2


def ms(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:7.1f} ms, slowest {max(samples) * 1000:7.1f} ms"
    )


async def worktrees(rounds: int, files: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        clone = make_clone(Path(tmp), data_dir, files=files)
        print(f"repository: {files} files, made in {time.perf_counter() - started:.1f} s")
        _, root = repository_dirs(data_dir, REPO)
        ours = Worktrees(clone, root)
        plain_root = Path(tmp) / "plain"
        plain: list[float] = []
        bot: list[float] = []
        for n in range(rounds):

            async def one_plain(n: int = n) -> None:
                started = time.perf_counter()
                # Off the event loop like ours, so both pay the thread hand-over.
                await asyncio.to_thread(
                    subprocess.run,
                    ["git", "worktree", "add", "-q", "-b", f"plain/{n}", str(plain_root / str(n)),
                     "origin/main"],
                    cwd=clone, check=True, env=GIT_ENV,
                )  # fmt: skip
                plain.append(time.perf_counter() - started)

            async def one_bot(n: int = n) -> None:
                started = time.perf_counter()
                await ours.ensure(f"1-{n}-bench", "origin/main")
                bot.append(time.perf_counter() - started)

            for step in (one_plain, one_bot) if n % 2 == 0 else (one_bot, one_plain):
                await step()
        reuse: list[float] = []
        for n in range(rounds):
            started = time.perf_counter()
            await ours.ensure(f"1-{n}-bench", "origin/main")
            reuse.append(time.perf_counter() - started)
        ratio = statistics.median(bot) / statistics.median(plain)
        print(f"plain `git worktree add`:   {ms(plain)}")
        print(f"Worktrees.ensure (new):     {ms(bot)}")
        print(f"ratio (medians):            {ratio:.2f}x (target <= {TARGET_RATIO}x)")
        print(f"Worktrees.ensure (reuse):   {ms(reuse)}")


async def sandbox(rounds: int) -> None:
    found = await asyncio.to_thread(
        Sandbox.detect, mode=Mode.BUBBLEWRAP, limits=Limits(), toolchain=DEFAULT_TOOLCHAIN
    )
    if found.refusal:
        print(f"sandbox: cannot run here ({found.refusal})")
        return
    print(f"sandbox limits through: {found.describe()['limits']}")
    with tempfile.TemporaryDirectory() as tmp:
        boxed: list[float] = []
        bare: list[float] = []
        for _ in range(rounds):
            result = await found.run(Path(tmp), "true")
            assert result.ok, result.output
            boxed.append(result.duration_s)
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true", cwd=tmp)
            await proc.wait()
            bare.append(time.perf_counter() - started)
        overhead = statistics.median(boxed) - statistics.median(bare)
        print(f"`true` in the sandbox:      {ms(boxed)}")
        print(f"`sh -c true`, no sandbox:   {ms(bare)}")
        print(f"start-up cost per test run: {overhead * 1000:.1f} ms")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    asyncio.run(worktrees(rounds, files))
    asyncio.run(sandbox(rounds * 4))


if __name__ == "__main__":
    main()
