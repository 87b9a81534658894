"""What a story costs before its agent starts: a worktree on a 10,000-file repository, as a
ratio to a plain `git worktree add` in the same run (target: at most 1.2x), and the sandbox's
start-up cost per test run (`true` through the sandbox against `sh -c true` unsandboxed).
Then whole stories delivered on the local GitHub (scripted model edits, the real sandbox, git
over HTTP, draft to ready pull requests): per story the orchestration's own time apart from
the model's and the tests', and this process's peak RSS.

    .venv/bin/python -m bench.stories [ROUNDS] [FILES] [STORIES]

Rounds alternate which of the two goes first, so the page cache and machine noise hit both
alike; prints the median and slowest of each.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.git.worktrees import Worktrees, repository_dirs
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN
from bot.sandbox.policy import Limits, Mode
from bot.sandbox.runner import Sandbox
from bot.stories.deliver import Delivered, deliver
from githubsim import GitHubSim
from githubsim.graphql_api import GraphQLDescription
from tests.git.conftest import GIT_ENV, REPO, make_clone
from tests.sim_support import graphql_schema_path
from tests.stories.project import FILES, ScriptedModel, story
from tests.stories.stage import make_stage

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


def _story_files(count: int) -> dict[str, str | bytes | None]:
    files = dict(FILES)
    for n in range(1, count + 1):
        files[f"docs/stories/2-{n}-fn{n}.md"] = story(
            f"2.{n}", f"Function {n}", [f"fn{n}() is {n}"]
        )
    return files


def _script(n: int) -> list[list[tuple[str, dict[str, Any]]]]:
    """Every third story fails its first attempt (two turns, two test runs)."""
    test = (f"import unittest\n\nfrom calc.fn{n} import fn{n}\n\n\n"
            f"class F(unittest.TestCase):\n    # AC1\n    def test_fn{n}(self):\n"
            f"        self.assertEqual(fn{n}(), {n})\n")  # fmt: skip
    wrong = n + 1 if n % 3 == 0 else n
    code = f"def fn{n}():\n    return {wrong}\n"
    return [
        [("write_file", {"path": f"calc/fn{n}.py", "content": code}),
         ("write_file", {"path": f"tests/test_fn{n}.py", "content": test}),
         ("done", {"summary": f"Add fn{n}"})],
        [("write_file", {"path": f"calc/fn{n}.py", "content": f"def fn{n}():\n    return {n}\n"}),
         ("done", {"summary": f"Return {n}"})],
    ]  # fmt: skip


async def deliveries(count: int) -> None:
    found = await asyncio.to_thread(
        Sandbox.detect, mode=Mode.BUBBLEWRAP, limits=Limits(), toolchain=DEFAULT_TOOLCHAIN
    )
    if found.refusal:
        print(f"stories: cannot run here ({found.refusal})")
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    sim = GitHubSim(graphql=GraphQLDescription(graphql_schema_path()))
    await sim.start()
    model = ScriptedModel()
    runner = web.AppRunner(model.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        stage = await make_stage(
            sim, key, model, f"http://127.0.0.1:{port}", found, Path(tmp) / "data",
            files=_story_files(count),
        )  # fmt: skip
        overheads: list[float] = []
        print("story      attempts   total    model    tests  orchestration")
        for n in range(1, count + 1):
            model.scripts[f"2-{n}-fn{n}"] = _script(n)
            result = await deliver(stage.place, stage.means, f"2-{n}-fn{n}")
            assert isinstance(result, Delivered), result
            t = result.timings
            overheads.append(t.overhead_s)
            print(f"2-{n}-fn{n:<4} {len(result.attempts):>5} {t.total_s * 1000:8.0f} ms "
                  f"{t.model_s * 1000:6.0f} ms {t.tests_s * 1000:6.0f} ms "
                  f"{t.overhead_s * 1000:8.0f} ms")  # fmt: skip
        await stage.close()
    await runner.cleanup()
    await sim.stop()
    print(f"orchestration per story:    {ms(overheads)}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS (bench, stand-in and model server in one process): {rss:.0f} MiB")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    stories = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    asyncio.run(worktrees(rounds, files))
    asyncio.run(sandbox(rounds * 4))
    asyncio.run(deliveries(stories))


if __name__ == "__main__":
    main()
