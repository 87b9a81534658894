"""A sprint of N stories at once through the sprint reconciler (bot/stories/sprints.py) on
the local GitHub: real git over HTTP, the real sandbox, the scripted model answering after
2 s, each story one model round that writes its own file, a trivial test command,
`auto_merge` on, `max_concurrent_agents` N. First one story alone, then N together, in the
same run.

    .venv/bin/python -m bench.sprint [STORIES]

Prints `merged: N/N` read from the local GitHub, the makespan as a ratio to the one story's
time, each story's orchestration time apart from the model's and the tests' (the one story,
delivered the same way by `deliver`), and the peak RSS of this one process, which holds the
reconciler, the stand-in and the model server together (the server subprocess is not used:
the figure is an upper bound for the product's part).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.project.board_sync import BoardSync
from bot.project.location import DEFAULT
from bot.runs.github_home import GitHubHome
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN
from bot.sandbox.policy import Limits, Mode
from bot.sandbox.runner import Sandbox
from bot.stories.deliver import Delivered, deliver
from bot.stories.sprints import Sprints
from githubsim import GitHubSim
from githubsim.graphql_api import GraphQLDescription
from tests.sim_support import graphql_schema_path
from tests.stories.project import FILES, ScriptedModel, story
from tests.stories.stage import Stage, make_stage
from tests.support import APP_ID

TEST = '"true"'  # quoted: YAML would read a bare true as a boolean
DELAY_S = 2.0


def _key(n: int) -> str:
    return f"2-{n}-fn{n}"


def _status(count: int, ready: range) -> str:
    lines = ["development_status:", "  epic-2: in-progress"]
    for n in range(0, count + 2):
        lines.append(f"  {_key(n)}: {'ready-for-dev' if n in ready else 'backlog'}")
    return "\n".join(lines) + "\n"


def _files(count: int, ready: range) -> dict[str, str | bytes | None]:
    """Stories 0 (alone, by `deliver`), 1 (alone, by the reconciler), 2..count+1 together."""
    files = dict(FILES)
    files[".github/orchestrator.yml"] = (
        f"sandbox:\n  test: {TEST}\nauto_merge: true\nmax_concurrent_agents: {max(count, 1)}\n"
    )
    for n in range(0, count + 2):
        files[f"docs/stories/{_key(n)}.md"] = story(f"2.{n}", f"Function {n}", [f"fn{n}"])
    files[DEFAULT] = _status(count, ready)
    return files


async def _ready(stage: Stage, count: int, ready: range) -> None:
    """A person marks `ready` ready for development (others as the file has them)."""
    text = await stage.on_github("main", DEFAULT)
    for n in ready:
        text = text.replace(f"  {_key(n)}: backlog", f"  {_key(n)}: ready-for-dev")
    await stage.sim.push(stage.repository, by="mona", files={DEFAULT: text}, message="Ready")


def _script(n: int) -> list[list[tuple[str, dict[str, Any]]]]:
    code = f"def fn{n}():\n    return {n}\n"
    return [[("write_file", {"path": f"calc/fn{n}.py", "content": code}),
             ("done", {"summary": f"Add fn{n}"})]]  # fmt: skip


async def _merged(stage: Stage, keys: list[str]) -> int:
    pulls = await stage.pulls()
    return sum(1 for p in pulls if p["merged_at"] and str(p["head"]["ref"])[6:] in keys)


async def _sprint(stage: Stage, keys: list[str], timeout_s: float) -> float:
    """Seconds until every story of `keys` is merged, through the reconciler."""
    assert stage.clients is not None
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.5)
    data = dict(await stage.place.gh.getitem(f"/repos/{stage.repository.full_name}"))
    started = time.perf_counter()
    sprints.wake(stage.installation_id, data)
    try:
        while await _merged(stage, keys) < len(keys):
            if time.perf_counter() - started > timeout_s:
                break
            await asyncio.sleep(0.2)
        return time.perf_counter() - started
    finally:
        await sprints.close()
        await board.close()


async def run(count: int) -> None:
    found = await asyncio.to_thread(
        Sandbox.detect, mode=Mode.BUBBLEWRAP, limits=Limits(), toolchain=DEFAULT_TOOLCHAIN
    )
    if found.refusal:
        print(f"sprint: cannot run here ({found.refusal})")
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    sim = GitHubSim(graphql=GraphQLDescription(graphql_schema_path()))
    await sim.start()
    model = ScriptedModel()
    model.delay = DELAY_S
    runner = web.AppRunner(model.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    keys = [_key(n) for n in range(1, count + 2)]
    for n in range(0, count + 2):
        model.scripts[_key(n)] = _script(n)
    with tempfile.TemporaryDirectory() as tmp:
        stage = await make_stage(sim, key, model, url, found, Path(tmp) / "data",
                                 files=_files(count, range(0)))  # fmt: skip
        # Story 0 by `deliver` alone, for its parts (model, tests, the rest); left unmerged.
        result = await deliver(stage.place, stage.means, _key(0))
        assert isinstance(result, Delivered), result
        # Story 1 alone through the reconciler, then the N others together.
        await _ready(stage, count, range(1, 2))
        one_s = await _sprint(stage, keys[:1], 120)
        await _ready(stage, count, range(2, count + 2))
        many_s = await _sprint(stage, keys[1:], 60 + 20 * count)
        merged = await _merged(stage, keys[1:])
        await stage.close()
    await runner.cleanup()
    await sim.stop()
    t = result.timings
    print(f"merged: {merged}/{count}")
    print(f"one story: {one_s:.2f} s; {count} stories: {many_s:.2f} s")
    print(f"makespan: {many_s / one_s:.2f}x one story")
    print(f"one story's parts: model {t.model_s:.2f} s, tests {t.tests_s * 1000:.0f} ms, "
          f"orchestration {t.overhead_s * 1000:.0f} ms (target <= 300 ms)")  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS (reconciler, stand-in and model server in one process): {rss:.0f} MiB")


def main() -> None:
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20))


if __name__ == "__main__":
    main()
