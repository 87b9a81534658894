"""`orchestrator demo`: the product on a local GitHub, with no account and no key.

It starts the GitHub stand-in, a repository with a small seed project and its BMAD install,
a model (the scripted local model, or a real one with `--llm`), and the orchestrator itself
with a fresh App identity; then people act on the local GitHub over its HTTP routes, as they
would on github.com, and the demo prints what each of them sees. The flows grow with the
product; `--summary` writes what they left, read back from the local GitHub's API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from bot.demo import flows
from bot.demo.model import ModelUnusable, chosen, serving
from bot.demo.people import DemoFailed
from bot.demo.sprint import sprint
from bot.demo.stage import MAINTAINER, Stage, find_manifest, free_port, staged
from bot.demo.summary import read_summary
from bot.logs import configure_logging

__all__ = ["demo"]


def report(stage: Stage, say: flows.Say, plan: int | None) -> None:
    deliveries = stage.sim.webhooks.deliveries
    answered = sum(1 for d in deliveries if d.status is not None and 200 <= d.status < 300)
    say("")
    say("Where to look:")
    say(f"  the commands' issue           {stage.issue_url(1)}")
    if plan is not None:
        say(f"  the plan's issue              {stage.issue_url(plan)}")
        say(f"  the pull requests             {stage.sim.url}/_sim/{stage.repository.full_name}")
    say(f"  everything on the local GitHub {stage.sim.url}/_sim/")
    say(f"  the repository, over HTTP     git clone {stage.clone_url}")
    say(f"  its bare git on disk          git clone {stage.remote}")
    say(f"  webhooks GitHub sent          {len(deliveries)}, {answered} answered 2xx")
    data = stage.data_dir / "orchestrator"
    say(f"  the orchestrator's journal    orchestrator deliveries list --data-dir {data}")
    say(f"  the orchestrator's runs       orchestrator jobs list --data-dir {data}")
    say(f"  the orchestrator's log        {stage.data_dir / 'orchestrator.log'}")
    if stage.checked:
        violations = stage.sim.violations
        say(f"  GitHub's API description      {len(violations)} violations")
        for violation in violations[:10]:
            say(f"    {violation}")
    else:
        say("  GitHub's API description      not checked (scripts/prefetch-npm fetches it)")


async def run_demo(
    data_dir: Path,
    manifest: Path,
    port: int,
    wait: bool,
    out: TextIO,
    llm: str | None,
    summary: Path | None,
) -> int:
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    async with serving(llm, data_dir) as model, staged(data_dir, manifest, port, model) as stage:
        say("Agent Orchestrator demo: a local GitHub, a seed repository and the orchestrator.")
        say(f"  local GitHub    {stage.sim.url}")
        say(f"  orchestrator    {stage.bot_url}/webhooks")
        say(f"  repository      {stage.repository.full_name} (seed project: todo-app)")
        say(f"  model           {model.described}")
        say("")
        plan = None
        failed = False
        try:
            await flows.commands(stage, say)
            await flows.forged(stage, say)
            plan = await flows.planning(stage, say)
            await flows.board(stage, say)
            if stage.isolation is None or stage.model.scripted:
                await sprint(stage, say)
            else:  # a real model's code runs only isolated
                say(f"   (the sprint stops here: {stage.isolation}, and a real model's code runs "
                    "only in bubblewrap)")  # fmt: skip
            await flows.anonymous_clone(stage, say)
        except DemoFailed as exc:
            say(f"   ✗ {exc}; see {data_dir / 'orchestrator.log'}")
            failed = True
        await stage.sim.settle()
        if summary is not None:
            person = stage.people[MAINTAINER]
            found = await read_summary(person, f"{stage.sim.url}/graphql", stage.app.bot.login)
            text = json.dumps(found, indent=2) + "\n"
            await asyncio.to_thread(summary.write_text, text, encoding="utf-8")
            say(f"\nSummary (read back from the local GitHub's API): {summary}")
        report(stage, say, plan)
        if failed or (stage.checked and stage.sim.violations):
            return 1
        if wait:
            say("\nServing until Ctrl-C (--exit stops after the flows).")
            await _until_interrupted()
    return 0


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        handler = configure_logging("INFO", stream=stream)
        try:
            yield
        finally:
            handler.close()


def demo(
    data_dir: Path | None,
    port: int | None,
    wait: bool,
    out: TextIO,
    llm: str | None = None,
    summary: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    manifest = find_manifest()
    if manifest is None:
        print("orchestrator demo: app.yml not found; run it from the project's checkout", file=out)
        return 2
    try:
        llm = chosen(llm, environ or {})
    except ModelUnusable as exc:
        print(f"orchestrator demo: {exc}", file=out)
        return 2
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="orchestrator-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with _log_to(data_dir / "orchestrator.log"):
        return asyncio.run(
            run_demo(data_dir, manifest, port or free_port(), wait, out, llm, summary)
        )
