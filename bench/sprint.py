"""A sprint of N stories at once through the real path: the server as a subprocess
(`python -m bot serve`), the local GitHub (webhooks, REST, git over HTTP), git worktrees, the
bubblewrap sandbox. Each story is one model round that writes its own file (the model answers
after 2 s), a trivial test command, `auto_merge` on, `max_concurrent_agents` N. First a story
that warms the server up (its SDK is imported and the model is asked once whether it makes
tool calls, as after every start), then one story alone, then N together, in the same run;
a person marks them ready by pushing the sprint file, as on GitHub. Each is timed from
the person's push that went in until every one of its stories is merged, once the bot has
finished with the stories before (their issues closed, `done` on main).

    .venv/bin/python -m bench.sprint [--stories N] [--kills K] [--github-limit]

Prints `merged: N/N` read from the local GitHub, the makespan as a ratio to the one story's
time, the orchestration overhead per story apart from the model and the tests (the server's
own log line per delivered story, and the whole story from the person's push to the merge),
and the peak RSS of every process of the product together (the server, its run workers and
sandboxes; sampled every 50 ms from /proc). The model and the local GitHub run in this
process and are not counted.

GitHub's secondary limit (about 80 content-creating requests a minute) is lifted in the
stand-in and in the server's pacing (`ORCHESTRATOR_WRITES_PER_MINUTE`), unless
`--github-limit`: a story makes about 15 writes, so under GitHub's limit 20 stories take at
least four minutes whatever the orchestrator does; the bench measures the orchestrator.

`--kills K` SIGKILLs the server K times while N stories run (the next N are readied when a
batch is merged before the K kills are spent, up to BATCHES_WITH_KILLS batches: a kill after
the end tests little), each at a moment drawn at
random (seeded): the instant a draft pull request opens, one is readied, the App posts a
review or a pull request is merged (as seen on the local GitHub; at most 15 s), or after
0.3-3 s. Then it checks that the sprint converged to the same end as without kills: every
story merged and `done`, issues closed, no worktree left, and nothing made twice (pull
request, review, comment, issue, commit). Its makespan is not the target's.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.demo.stage import free_port, new_private_key
from bot.github.markers import marker
from bot.project.location import DEFAULT
from githubsim import GitHubSim
from githubsim.graphql_api import GraphQLDescription
from githubsim.model import App, Repository
from githubsim.people_git import PushRefused
from tests.sim_support import graphql_schema_path
from tests.stories.project import FILES, ScriptedModel, story
from tests.support import APP_ID, MANIFEST, ROOT

TEST = '"true"'  # quoted: YAML would read a bare true as a boolean
DELAY_S = 2.0
BOT = "agent-orchestrator[bot]"
SECRET = "bench-webhook-secret"
MODEL = "anthropic:claude-haiku-4-5"


def _key(n: int) -> str:
    return f"2-{n}-fn{n}"


#: With kills, the batches of N stories the sprint file holds for the kills to land in.
BATCHES_WITH_KILLS = 6


def _files(count: int, total: int) -> dict[str, str | bytes | None]:
    """Story 1 (the warm-up), 2 (alone), then 3..count+2 (together) and more batches up to
    `total`, all in the backlog."""
    files = dict(FILES)
    files[".github/orchestrator.yml"] = (
        f"sandbox:\n  test: {TEST}\nauto_merge: true\nmax_concurrent_agents: {max(count, 1)}\n"
    )
    lines = ["development_status:", "  epic-2: in-progress"]
    for n in range(1, total + 1):
        files[f"docs/stories/{_key(n)}.md"] = story(f"2.{n}", f"Function {n}", [f"fn{n}"])
        lines.append(f"  {_key(n)}: backlog")
    files[DEFAULT] = "\n".join(lines) + "\n"
    return files


def _script(n: int) -> list[list[tuple[str, dict[str, object]]]]:
    code = f"def fn{n}():\n    return {n}\n"
    return [[("write_file", {"path": f"calc/fn{n}.py", "content": code}),
             ("done", {"summary": f"Add fn{n}"})]]  # fmt: skip


class Server:
    """The product's server as a subprocess, started again on the same data dir."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{env['ORCHESTRATOR_PORT']}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - started, never waited on here
                [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise SystemExit(f"the server exited:\n{self.log.read_text()[-3000:]}")
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _cpu(server: Server) -> tuple[float, float, float, float]:
    """CPU seconds so far: the server itself, the processes it ran and waited for (git, the
    sandbox), this process (the local GitHub and the model), and the processes this one ran
    (the local GitHub's git)."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(f) / tick for f in fields[11:15])
    mine = os.times()
    return (utime + stime, cutime + cstime, mine.user + mine.system,
            mine.children_user + mine.children_system)  # fmt: skip


def _tree_rss(root: int) -> int:
    """Bytes resident in `root` and every process below it (each thread's children, read
    from /proc: scanning every process of the machine took a tenth of a core at 20 Hz).

    A child not yet past its exec (the same program and command line as its parent) is not
    counted: Python starts processes with vfork, whose child runs in its parent's memory
    until it execs; counted, each such moment added the server's 130 MiB again."""
    total, frontier, seen = 0, [(root, b"")], {root}
    page = os.sysconf("SC_PAGE_SIZE")
    while frontier:
        pid, parents = frontier.pop()
        try:
            mine = (
                Path(f"/proc/{pid}/cmdline").read_bytes() + os.readlink(f"/proc/{pid}/exe").encode()
            )
            if mine != parents:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            tasks = os.listdir(f"/proc/{pid}/task")
        except (OSError, IndexError, ValueError):
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in seen:
                    seen.add(child)
                    frontier.append((child, mine))
    return total


async def _sample_rss(server: Server, peak: list[int]) -> None:
    while True:
        if server.process is not None and server.process.poll() is None:
            peak[0] = max(peak[0], await asyncio.to_thread(_tree_rss, server.process.pid))
        await asyncio.sleep(0.05)


MOMENT_WAIT_S = 15.0
#: When a kill lands: the moment one of these counts moves (at most MOMENT_WAIT_S), or a
#: while.
MOMENTS: dict[str, Callable[[Bench, list[str]], int]] = {
    "after a while": lambda bench, keys: 0,
    "a draft pull request opened": lambda bench, keys: bench.opened(keys),
    "a pull request readied": lambda bench, keys: bench.readied(keys),
    "the App reviewed": lambda bench, keys: bench.reviewed(keys),
    "a pull request merged": lambda bench, keys: bench.merged(keys),
}


class Bench:
    def __init__(self, sim: GitHubSim, app: App, repository: Repository, server: Server) -> None:
        self.sim, self.app, self.repository, self.server = sim, app, repository, server

    def pulls(self, key: str) -> list[object]:
        return [i.pull for i in self.repository.issues.values()
                if i.pull is not None and i.pull.head_ref == f"story/{key}"]  # fmt: skip

    def opened(self, keys: list[str]) -> int:
        return sum(len(self.pulls(k)) for k in keys)

    def readied(self, keys: list[str]) -> int:
        return sum(1 for k in keys for p in self.pulls(k) if not p.draft)  # type: ignore[attr-defined]

    def reviewed(self, keys: list[str]) -> int:
        return sum(1 for k in keys for p in self.pulls(k)
                   for r in p.reviews if r.user.login == BOT)  # type: ignore[attr-defined]  # fmt: skip

    def all_merged(self, keys: list[str]) -> bool:
        return self.merged(keys) == len(keys)

    def merged(self, keys: list[str]) -> int:
        return sum(1 for k in keys if any(p.merged_at for p in self.pulls(k)))  # type: ignore[attr-defined]

    def story_issue(self, key: str) -> object | None:
        for issue in self.repository.issues.values():
            mine = issue.via_app is self.app and issue.pull is None
            if mine and marker("story", key) in (issue.body or ""):
                return issue
        return None

    async def until(
        self, done: Callable[[], bool], within: float, what: str, poll: float = 0.05
    ) -> None:
        """Until `done`; past `within` seconds an exit saying `what` (none: just return)."""
        started = time.monotonic()
        while not done():
            if time.monotonic() - started > within:
                if not what:
                    return
                raise SystemExit(f"{what}: not within {within:.0f} s; see {self.server.log}")
            await asyncio.sleep(poll)

    async def moves(
        self, counted: Callable[[Bench, list[str]], int], keys: list[str], within: float
    ) -> None:
        """Until the count moves, at most `within` seconds."""
        before = counted(self, keys)
        await self.until(lambda: counted(self, keys) != before, within, "", poll=0.02)

    async def ready(self, keys: list[str]) -> float:
        """A person marks `keys` ready for development in the sprint file on main; when the
        bot pushed to main in between (a status commit), they read it again and push again.
        The moment the push that went in began."""
        for _ in range(10):
            text = await self.sim.git.git(self.repository, "show", f"main:{DEFAULT}")
            for key in keys:
                text = text.replace(f"  {key}: backlog", f"  {key}: ready-for-dev")
            began = time.monotonic()
            try:
                await self.sim.push(
                    self.repository, by="mona", files={DEFAULT: text}, message="Ready"
                )
                return began
            except PushRefused:
                await asyncio.sleep(0.2)
        raise SystemExit("the person's push to main was refused ten times")

    async def settled(self, keys: list[str], within: float) -> None:
        """Until the bot is done with `keys` after their merges: their issues closed and the
        sprint file on main saying `done` (its last status commit pushed)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            closed = all(getattr(self.story_issue(k), "state", "") == "closed" for k in keys)
            if closed and await self.done_on_main(keys):
                return
            await asyncio.sleep(0.05)
        raise SystemExit(f"settled: not within {within:.0f} s; see {self.server.log}")

    async def done_on_main(self, keys: list[str]) -> bool:
        text = await self.sim.git.git(self.repository, "show", f"main:{DEFAULT}")
        return all(f"  {k}: done" in text for k in keys)

    async def sprint(self, keys: list[str], within: float) -> float:
        """Seconds from the person's push (the one that went in) until every story of `keys`
        is merged; then until the bot has finished with them, so that the next sprint's
        push meets no status commit of this one's."""
        started = await self.ready(keys)
        await self.until(functools.partial(self.all_merged, keys), within, "merged")
        took = time.monotonic() - started
        await self.settled(keys, within)
        return took

    async def killed(
        self, batches: list[list[str]], within: float, kills: int
    ) -> tuple[float, list[str]]:
        """Batches readied one after another while kills remain, the server killed at drawn
        moments while a batch is not merged; the seconds, and the stories readied."""
        started, used, n = time.monotonic(), list[str](), 0
        rng = random.Random(21)  # kill moments, not secrets
        for keys in batches:
            if n == kills:
                break
            await self.ready(keys)
            used += keys
            while n < kills and not self.all_merged(keys):
                # Only a moment still to come in this batch (else the kill lands after it).
                coming = [m for m, counted in MOMENTS.items()
                          if m == "after a while" or counted(self, keys) < len(keys)]  # fmt: skip
                moment = rng.choice(coming)
                wait = rng.uniform(0.3, 3.0) if moment == "after a while" else MOMENT_WAIT_S
                await self.moves(MOMENTS[moment], keys, wait)
                self.server.kill()
                n += 1
                merged = f"{self.merged(keys)}/{len(keys)} of its batch merged"
                print(f"  kill {n}/{kills} at {time.monotonic() - started:.1f} s, {moment} "
                      f"({merged})", flush=True)  # fmt: skip
                await self.server.start()
            await self.until(functools.partial(self.all_merged, keys), within, "merged")
        if n < kills:
            print(f"  only {n} of {kills} kills landed in {len(batches)} batches")
        return time.monotonic() - started, used

    async def converged(self, keys: list[str], data: Path) -> list[str]:
        """What differs from the end a sprint without kills reaches (empty: nothing)."""
        problems: list[str] = []

        with contextlib.suppress(SystemExit):  # what is not done is said below
            await self.settled(keys, 120)
        await self.sim.settle()
        if not await self.done_on_main(keys):
            problems.append("not every story is done in the sprint file")
        for key in keys:
            pulls = self.pulls(key)
            if len(pulls) != 1:
                problems.append(f"{key}: {len(pulls)} pull requests")
            issue = self.story_issue(key)
            if issue is None or getattr(issue, "state", "") != "closed":
                problems.append(f"{key}: its issue is not closed")
        for issue in self.repository.issues.values():
            if issue.pull is not None:
                ours = [r for r in issue.pull.reviews if r.user.login == BOT]
                if len(ours) > 1:
                    problems.append(f"#{issue.number}: {len(ours)} reviews by the App")
            bodies = [c.body for c in self.sim.comments_on(self.repository, issue.number)
                      if c.user.login == BOT]  # fmt: skip
            if len(bodies) != len(set(bodies)):
                problems.append(f"#{issue.number}: a comment made twice")
        titles = collections.Counter(i.title for i in self.repository.issues.values())
        problems += [f"issue {t!r} made {n} times" for t, n in titles.items() if n > 1]
        log = await self.sim.git.git(self.repository, "log", "--format=%an|%s", "main")
        subjects = collections.Counter(s for s in log.splitlines() if s.startswith(BOT))
        problems += [f"commit {s!r} made {n} times" for s, n in subjects.items() if n > 1]
        worktrees = data / "worktrees" / self.repository.full_name
        if worktrees.exists() and [p for p in worktrees.iterdir() if p.is_dir()]:
            problems.append("a worktree is left")
        return problems


def _delivered(log: Path, key: str) -> dict[str, float] | None:
    """The server's own figures for one delivered story (its JSON log line)."""
    import json

    for line in log.read_text(errors="replace").splitlines():
        if '"a story delivered"' in line and key in line:
            record = json.loads(line)
            if record.get("story") == key:
                return {k: float(record[k]) for k in ("total_s", "model_s", "tests_s")}
    return None


async def run(count: int, kills: int, github_limit: bool, keep_log: Path | None) -> None:
    limit = 80 if github_limit else 100_000
    sim = GitHubSim(graphql=GraphQLDescription(graphql_schema_path()), content_per_minute=limit)
    await sim.start()
    key = new_private_key()
    model = ScriptedModel()
    model.delay = DELAY_S
    # A kill cuts the server's model requests off mid-body: aiohttp logs each one, as noise.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    runner = web.AppRunner(model.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    total = 2 + count * (BATCHES_WITH_KILLS if kills else 1)
    keys = [_key(n) for n in range(1, total + 1)]
    for n in range(1, total + 1):
        model.scripts[_key(n)] = _script(n)
    with tempfile.TemporaryDirectory() as tmp:
        server_port = free_port()
        app = sim.register_app(app_id=APP_ID, private_key=key, manifest=MANIFEST,
                               webhook_url=f"http://127.0.0.1:{server_port}/webhooks",
                               webhook_secret=SECRET)  # fmt: skip
        repository = sim.create_repository("bench-org/calc")
        sim.grant(repository, "mona", "admin")
        data = Path(tmp) / "data"
        env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("GITHUB_", "ORCHESTRATOR_", "ANTHROPIC_", "OPENAI_"))},
            "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_APP_ID": str(APP_ID),
            "GITHUB_PRIVATE_KEY": key, "GITHUB_API_URL": sim.url,
            "ORCHESTRATOR_PORT": str(server_port), "ORCHESTRATOR_DATA_DIR": str(data),
            "ORCHESTRATOR_WRITE_INTERVAL_SECONDS": "1" if github_limit else "0",
            "ORCHESTRATOR_WRITES_PER_MINUTE": "75" if github_limit else "100000",
            "ORCHESTRATOR_RETRY_BASE_SECONDS": "0.2",
            "ORCHESTRATOR_STORY_ISSUES_PER_PASS": str(total + 1),
            "ORCHESTRATOR_STORY_ISSUES_PASS_SECONDS": "0.3",
            "ORCHESTRATOR_SANDBOX": "bubblewrap",
            "ORCHESTRATOR_LOG_LEVEL": os.environ.get("ORCHESTRATOR_LOG_LEVEL", "INFO"),
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_API_KEY": "bench-key",
            "ORCHESTRATOR_DEFAULT_MODEL": MODEL, "ORCHESTRATOR_ALLOWED_MODELS": MODEL,
        }  # fmt: skip
        server = Server(env, Path(tmp) / "server.log")
        await server.start()
        peak = [0]
        sampler = asyncio.create_task(_sample_rss(server, peak))
        bench = Bench(sim, app, repository, server)
        try:
            sim.install(app, [repository], by="bench-org")
            files = _files(count, total)
            await sim.push(repository, by="mona", files=files, message="A calculator")
            await bench.until(lambda: all(bench.story_issue(k) for k in keys), 120, "issues")
            await bench.sprint(keys[:1], 120)  # the warm-up
            asked = len(model.requests)
            one_s = await bench.sprint(keys[1:2], 120)
            one_model_s = (len(model.requests) - asked) * DELAY_S
            cpu_before = _cpu(server)
            within = 120 + 20 * count
            if kills:  # the server is another process after each restart: no CPU figure
                batches = [keys[i : i + count] for i in range(2, total, count)]
                many_s, used = await bench.killed(batches, within, kills)
                cpu, merged, count = [], bench.merged(used), len(used)
                problems = await bench.converged(keys[:2] + used, data)
            else:
                many_s = await bench.sprint(keys[2:], within)
                cpu = [a - b for a, b in zip(_cpu(server), cpu_before, strict=True)]
                merged, problems = bench.merged(keys[2:]), []
            parts = _delivered(server.log, keys[1])
            if keep_log is not None:
                shutil.copyfile(server.log, keep_log)
                history = await sim.git.git(
                    repository, "log", "-p", "--format=%h %an %ad|%s", "--date=iso-strict",
                    "main", "--", DEFAULT,
                )  # fmt: skip
                keep_log.with_suffix(".status.txt").write_text(history)
        finally:
            sampler.cancel()
            server.stop()
            await runner.cleanup()
            await sim.stop()
    print(f"merged: {merged}/{count}")
    print(f"one story: {one_s:.2f} s; {count} stories: {many_s:.2f} s"
          + (f" through {kills} SIGKILLs" if kills else ""))  # fmt: skip
    target = " (with kills: not the target's figure)" if kills else " (target <= 1.5x)"
    print(f"makespan: {many_s / one_s:.2f}x one story{target}")
    if parts is not None:
        overhead = parts["total_s"] - parts["model_s"] - parts["tests_s"]
        print(f"one story's delivery (server log): model {parts['model_s']:.2f} s, tests "
              f"{parts['tests_s'] * 1000:.0f} ms, orchestration {overhead * 1000:.0f} ms "
              "(target <= 300 ms)")  # fmt: skip
    whole = one_s - one_model_s - (parts["tests_s"] if parts else 0.0)
    print(
        f"one story, push to merge, apart from the model's {one_model_s:.0f} s and the tests: "
        f"{whole * 1000:.0f} ms (webhooks, git, GitHub, status commits, review, merge)"
    )
    if cpu:
        print(
            f"CPU seconds while the {count} stories ran ({many_s:.1f} s, {os.cpu_count()} cores): "
            f"server {cpu[0]:.1f}, its git and sandboxes {cpu[1]:.1f}; the local GitHub and the "
            f"model {cpu[2]:.1f}, its git {cpu[3]:.1f}"
        )
    print(
        f"peak RSS of the product's processes together: {peak[0] / 2**20:.0f} MiB "
        "(target <= 400 MB)"
    )
    if github_limit:
        print("GitHub's secondary write limit in force (80 a minute)")
    else:
        print("GitHub's secondary write limit lifted (stand-in and server pacing)")
    if kills:
        print("converged: " + ("yes, nothing made twice" if not problems else "; ".join(problems)))
        if problems:
            raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sprint")
    parser.add_argument("--stories", type=int, default=20)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--github-limit", action="store_true")
    parser.add_argument("--log", type=Path, help="keep the server's log here")
    args = parser.parse_args()
    if args.stories < 1:
        parser.error("--stories: at least 1")
    asyncio.run(run(args.stories, args.kills, args.github_limit, args.log))


if __name__ == "__main__":
    main()
