"""The App's git against GitHub: one clone per repository, fetched and pushed with a fresh
installation token for every operation, handed over by a credential helper.

The token is never in a URL, `.git/config`, a log line or an agent's environment: each git
command gets `-c credential.helper=…` on its command line (after an empty one, which drops
any helper a system or user config names, so nothing stores it) and the token in the
environment of that one process, built from scratch. Hooks are off. Git runs as a plain
subprocess (from a thread, off the event loop) rather than through GitPython, which always
passes the server's whole environment on: here the environment is exactly what git needs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from bot.git.refs import listing, resolve
from bot.git.shared_lock import SharedLock

log = logging.getLogger(__name__)

#: Asks for the token for each operation (tokens last an hour; runs can last longer).
TokenSource = Callable[[], Awaitable[str]]
#: The credential helper git runs: answers `get` with the token from its own environment.
HELPER = (
    '!f() { test "$1" = get || exit 0; echo username=x-access-token; '
    'echo "password=$AO_GIT_TOKEN"; }; f'
)
_KEEP = ("PATH", "LANG", "TZ")
_SAFE_REF = re.compile(r"[^a-z0-9._-]+")
_TRACKING = "refs/remotes/origin/"  # where the clone keeps GitHub's branches


class GitFailed(Exception):
    """A git command failed; the message has git's own words (never a token)."""

    def __init__(self, args: tuple[str, ...], status: int, stderr: str) -> None:
        shown = " ".join(a for a in args[:4] if not a.startswith("credential.helper"))
        super().__init__(f"git {shown} failed ({status}): {stderr.strip()[-800:]}")
        self.status = status
        self.stderr = stderr


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who commits: the App's bot user, as GitHub shows commits made by an App."""

    name: str
    email: str

    @classmethod
    def for_app(cls, slug: str, bot_user_id: int) -> Identity:
        login = f"{slug}[bot]"
        return cls(login, f"{bot_user_id}+{login}@users.noreply.github.com")


def environment(token: str | None = None, identity: Identity | None = None) -> dict[str, str]:
    """The environment of one git process: no user or system config, no prompts, nothing of
    the server's own environment but the path and locale."""
    env = {k: os.environ[k] for k in _KEEP if k in os.environ}
    env |= {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "HOME": "/nonexistent",
        "LC_ALL": "C",
    }
    if token is not None:
        env["AO_GIT_TOKEN"] = token
    if identity is not None:
        env |= {
            "GIT_AUTHOR_NAME": identity.name,
            "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name,
            "GIT_COMMITTER_EMAIL": identity.email,
        }
    return env


async def git(
    *args: str,
    cwd: Path | None = None,
    token: str | None = None,
    identity: Identity | None = None,
    stdin: bytes | None = None,
    index: Path | None = None,
) -> str:
    """Run one git command off the event loop; its stdout, or GitFailed. `stdin` is fed to
    it; `index` is the index file it uses instead of the repository's own."""
    out = await git_bytes(*args, cwd=cwd, token=token, identity=identity, stdin=stdin, index=index)
    return out.decode(errors="replace")


async def named(path: Path, ref: str) -> str:
    """What `ref` names in the repository or worktree at `path`: read from its files, else
    asked of git, whose error (GitFailed) is the caller's."""
    return resolve(path, ref) or (await git("rev-parse", "--verify", ref, cwd=path)).strip()


async def git_bytes(
    *args: str,
    cwd: Path | None = None,
    token: str | None = None,
    identity: Identity | None = None,
    stdin: bytes | None = None,
    index: Path | None = None,
) -> bytes:
    """`git`, with its stdout exactly as git wrote it (a file's content, byte for byte)."""
    config = ["-c", "core.hooksPath=/dev/null", "-c", "credential.helper="]
    if token is not None:  # GitHub's: a transfer stalled for a minute fails, never hangs
        config += ["-c", f"credential.helper={HELPER}", *_STALLED]
    env = environment(token, identity) | ({"GIT_INDEX_FILE": str(index)} if index else {})
    pool = _NETWORK if token is not None else _LOCAL
    queued = pool.submit(_run, ["git", *config, *args], cwd, env, stdin)
    ran = asyncio.wrap_future(queued)
    try:
        status, out, err = await asyncio.shield(ran)
    except asyncio.CancelledError:
        # The caller was cancelled (a story whose pull request was closed, a shutdown): git
        # not yet begun never runs; git begun finishes, or it would leave locks and
        # half-written refs behind for the next command, which the caller's lock no longer
        # keeps out.
        if not queued.cancel():
            await asyncio.wait([ran])
        raise
    if status:
        raise GitFailed(args, status, err.decode(errors="replace"))
    return out


#: Git runs from these threads, not from the event loop: starting a process blocks the
#: thread that starts it until the child has exec'd, and on a busy machine that is 10-25 ms
#: of a frozen loop per git command (hundreds of them in a sprint). GitHub's fetches and
#: pushes have threads of their own, so a slow one never holds the clone's quick local
#: commands up; eight of each keep twenty stories' git processes (and their memory) in bounds.
_LOCAL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="git")
_NETWORK = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="git-net")
#: Below 1 KB/s for 60 s, a fetch or push from GitHub fails (GitFailed) rather than hold a
#: thread for ever.
_STALLED = ("-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60")


def _run(
    argv: list[str], cwd: Path | None, env: dict[str, str], stdin: bytes | None
) -> tuple[int, bytes, bytes]:
    done = subprocess.run(  # noqa: S603 - git, an argument list, no shell
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, check=False,
        stdin=subprocess.DEVNULL if stdin is None else None,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@dataclasses.dataclass
class _BranchFetches:
    started: int = 0  # fetches of the branch begun
    done: int = 0  # the number of the last one that ended (well, or finding no branch)
    tip: str | None = None  # what it found
    turn: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)  # one at a time


class Remote:
    """One repository's clone in the data dir and what the App does with GitHub's copy.

    A fetch first asks GitHub what its branches name (`ls-remote`, which changes nothing
    here) and fetches only where the clone's tracking refs differ: most of a sprint's
    fetches find the default branch where the App's own last push left it, and a fetch
    holds the clone alone, waiting for every push under way."""

    def __init__(self, clone: Path, clone_url: str, token: TokenSource) -> None:
        self.clone = clone
        self.clone_url = clone_url
        self._token = token
        # A fetch or a worktree removal alone on the clone (a fetch checks the objects every
        # worktree's HEAD names, and a worktree half made fails it); pushes and worktree
        # adds side by side.
        self._lock = SharedLock()
        self._sync_turn = asyncio.Lock()  # one whole-clone sync at a time
        self._fetches_started = 0  # by `sync`; those that ask while one runs share the next
        self._fetches_done = 0  # the number of the last one that ended well
        self._branches: dict[str, _BranchFetches] = {}  # `fetch`'s, shared the same way

    def exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold while removing or pruning a worktree of the clone (never around `sync`)."""
        return self._lock.exclusive()

    def adding(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold while adding a story's worktree: beside pushes and other adds (`Worktrees`
        orders them), never beside a fetch, which a worktree half made fails."""
        return self._lock.shared()

    async def _network(self, *args: str, cwd: Path | None = None) -> str:
        token = await self._token()  # fresh for each operation
        return await git(*args, cwd=cwd or self.clone, token=token)

    async def sync(self) -> None:
        """Clone on first use, else fetch: the clone mirrors GitHub's branches as origin/*.
        Callers that ask while a sync runs share one begun after they asked (twenty
        stories starting at once fetched twenty times, one after another)."""
        wanted = self._fetches_started + 1  # the first sync to begin from now on
        async with self._sync_turn:
            if self._fetches_done >= wanted:
                return  # a sync begun after this call asked has ended well
            self._fetches_started += 1
            number = self._fetches_started
            if not (self.clone / "HEAD").is_file():
                async with self._lock.exclusive():
                    await self._clone()
                    await self._network("fetch", "--quiet", "--prune", "origin")
            else:
                heads = await self._heads()
                if heads != self._tracked():
                    async with self._lock.exclusive():
                        if heads != self._tracked():  # not fetched meanwhile
                            await self._network("fetch", "--quiet", "--prune", "origin")
            self._fetches_done = number

    def _tracked(self) -> dict[str, str]:
        """The clone's tracking refs by branch name (origin/HEAD, if any, is no branch)."""
        refs = listing(self.clone, _TRACKING)
        return {k.removeprefix(_TRACKING): v for k, v in refs.items() if k != f"{_TRACKING}HEAD"}

    async def _heads(self, branch: str | None = None) -> dict[str, str]:
        """GitHub's branches now (or the one `branch`): name -> commit. Nothing in the clone
        changes, so no lock is held."""
        pattern = [f"refs/heads/{branch}"] if branch is not None else []
        out = await self._network("ls-remote", "--heads", "origin", *pattern)
        heads = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/") and (branch is None or ref == pattern[0]):
                heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    async def _clone(self) -> None:
        """Clone beside the clone's place, then move it there: a clone cut short (a crash, a
        git process that outlived its server) is never taken for one, and is redone."""
        partial = self.clone.with_name(self.clone.name + ".partial")
        for leftover in (self.clone, partial):
            if leftover.exists():
                await asyncio.to_thread(shutil.rmtree, leftover)
        self.clone.parent.mkdir(parents=True, exist_ok=True)
        await self._network(
            "clone", "--bare", "--quiet", self.clone_url, str(partial), cwd=Path("/")
        )
        await git(
            "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*", cwd=partial
        )
        partial.rename(self.clone)

    async def branches(self, prefix: str = "") -> list[str]:
        """GitHub's branch names (as of now, not of the last fetch) that start with `prefix`."""
        out = await self._network("ls-remote", "--heads", "origin", f"refs/heads/{prefix}*")
        return sorted(
            line.split("refs/heads/", 1)[1] for line in out.splitlines() if "refs/heads/" in line
        )

    async def worktree(self, path: Path, branch: str, base: str) -> Path:
        """A worktree on `branch`: GitHub's copy of it when it exists there (a run continued
        from its branch alone), else a new branch from `base` (origin's default branch)."""
        if (path / ".git").exists():
            return path
        remote_tip = f"refs/remotes/origin/{branch}"
        start = remote_tip if await self._has(remote_tip) else f"refs/remotes/origin/{base}"
        async with self._lock.exclusive():
            await git("worktree", "prune", cwd=self.clone)
            await git(
                "worktree", "add", "--quiet", "--no-track", "-B", branch, str(path), start,
                cwd=self.clone,
            )  # fmt: skip
        return path

    async def commit(self, worktree: Path, message: str, identity: Identity) -> str | None:
        """Commit everything changed in the worktree; its sha, or None when nothing changed."""
        await git("add", "--all", cwd=worktree)
        if not (await git("status", "--porcelain", cwd=worktree)).strip():
            return None
        await git(
            "commit", "--quiet", "--no-verify", "-m", message, cwd=worktree, identity=identity
        )
        return await named(worktree, "HEAD")

    async def push(self, worktree: Path, branch: str) -> None:
        async with self._lock.shared():
            await self._network(
                "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=worktree
            )

    async def push_commit(self, sha: str, branch: str, *, replace: bool = False) -> None:
        """Push a commit made in the clone (no worktree) to `branch`. `replace` lets it
        replace what is there (only for a branch the App alone writes, never a default
        branch); the tracking ref follows."""
        async with self._lock.shared():
            spec = f"{'+' if replace else ''}{sha}:refs/heads/{branch}"
            await self._network("push", "--quiet", "origin", spec)
        await git("update-ref", f"refs/remotes/origin/{branch}", sha, cwd=self.clone)

    async def fetch(self, branch: str) -> str | None:
        """Fetch one branch now; its tip, or None when GitHub has no such branch. Callers that
        ask while a fetch of it runs share one begun after they asked, as a `sync` begun
        after they asked (a sprint's passes, status commits and merges each fetched the
        default branch, often at once)."""
        tracking = f"{_TRACKING}{branch}"
        shared = self._branches.setdefault(branch, _BranchFetches())
        wanted, wanted_sync = shared.started + 1, self._fetches_started + 1
        async with shared.turn:
            if self._fetches_done >= wanted_sync:  # a whole sync after the ask (pruned)
                return resolve(self.clone, tracking)  # None: GitHub has no such branch
            if shared.done >= wanted:
                return shared.tip
            shared.started += 1
            number = shared.started
            there = (await self._heads(branch)).get(branch)
            if there is not None and resolve(self.clone, tracking) != there:
                spec = f"+refs/heads/{branch}:{tracking}"
                try:
                    async with self._lock.exclusive():
                        if resolve(self.clone, tracking) != there:  # not fetched meanwhile
                            await self._network("fetch", "--quiet", "origin", spec)
                except GitFailed as exc:
                    if "couldn't find remote ref" not in exc.stderr:
                        raise
                    there = None  # deleted since it was listed
            shared.done = number
            shared.tip = None if there is None else await named(self.clone, tracking)
            return shared.tip

    async def _has(self, ref: str) -> bool:
        """Whether `ref` names an object (a broken ref names none, as git says)."""
        return resolve(self.clone, ref) is not None


def run_branch(issue: int, workflow: str, taken: Iterable[str]) -> str:
    """`ao/<issue>-<workflow>`, named from what survives the data dir; a later run of the
    same workflow from the same issue takes the next free suffix among GitHub's branches."""
    slug = _SAFE_REF.sub("-", workflow.lower()).strip("-.") or "run"
    base = f"ao/{issue}-{slug}"
    existing = set(taken)
    if base not in existing:
        return base
    n = 2
    while f"{base}-{n}" in existing:
        n += 1
    return f"{base}-{n}"
