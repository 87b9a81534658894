"""The sprint's state committed by the App to the default branch: the branch fetched, a batch
of status changes applied to its file, one commit (`Story 1-2 → review [skip ci]`), pushed.

Someone pushed in between: the branch is fetched again and the changes are applied again to
the file as it is now (never forced, never dropping their commit; a story they changed
meanwhile keeps their status, README "Precedence"). A protected default branch refuses the
App's push: the changes go to one `ao/state` pull request instead, kept current with each new
batch.

One committer serves a repository's stories together: changes asked for while a commit is
under way wait and then go as one commit (a group commit), so twenty stories moving at once
make a few commits, not twenty pushes racing each other for the branch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from bot.git.commit_file import commit_tree, read_file, write_tree
from bot.git.remote import GitFailed, Identity, Remote
from bot.project.sprint_edit import Change, ChangeOutcome, apply_parsed
from bot.project.sprint_status import decode, parse
from bot.project.statuses import kind_of
from bot.templates import render

log = logging.getLogger(__name__)

STATE_BRANCH = "ao/state"
#: Pushes tried before giving up (each after a fetch): only a very busy branch needs two.
MAX_ATTEMPTS = 5
STEPS = ("fetch", "parse", "edit", "write", "commit", "push")
_PROTECTED = ("GH006", "GH013", "protected branch")  # branch protection, rulesets
_RACED = ("[rejected]", "fetch first", "non-fast-forward", "[remote rejected]", "stale info")


class StateNotCommitted(Exception):
    """The changes could not be committed (every attempt was overtaken, or the branch is
    protected and there is no way to open a pull request)."""


class StatePulls(Protocol):
    """The `ao/state` pull request on GitHub (`state_pull.GitHubStatePulls`)."""

    async def find_open(self) -> dict[str, Any] | None: ...

    async def open(self, title: str, body: str) -> dict[str, Any]: ...

    async def update(self, pull: dict[str, Any], body: str) -> None: ...


@dataclasses.dataclass
class Committed:
    sha: str | None  # None when the changes changed nothing
    branch: str  # the default branch, or `ao/state`
    outcomes: list[ChangeOutcome]
    attempts: int
    pull_request: dict[str, Any] | None = None
    seconds: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))


class StateCommitter:
    """One repository's sprint-status file (`path`), committed by the App through `remote`."""

    def __init__(
        self,
        remote: Remote,
        identity: Identity,
        path: str,
        default_branch: str,
        pulls: StatePulls | None = None,
    ) -> None:
        self.remote = remote
        self.identity = identity
        self.path = path
        self.default_branch = default_branch
        self.pulls = pulls
        self.protected = False  # learnt from a refused push; the pull request is used then
        self._lock = asyncio.Lock()  # one batch at a time: the next applies to its result
        #: changes waiting for the commit under way to end, each with its caller's future
        self._waiting: list[tuple[list[Change], asyncio.Future[Committed]]] = []

    async def commit(self, changes: Sequence[Change]) -> Committed:
        """Commit `changes`, with whatever other callers asked for meanwhile, as one commit;
        what became of each of `changes` (`Committed.outcomes`). SprintStatusError when the
        file on the branch may not be written."""
        mine: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(changes), mine))
        try:
            return await self._lead(mine)
        except asyncio.CancelledError:  # a caller that stopped waiting: its changes are not made
            self._waiting = [(batch, f) for batch, f in self._waiting if f is not mine]
            raise

    async def _lead(self, mine: asyncio.Future[Committed]) -> Committed:
        async with self._lock:
            if mine.done():  # the commit before took ours along
                return mine.result()
            group, self._waiting = self._waiting, []
            try:
                done = await self._commit([c for batch, _ in group for c in batch])
            except BaseException:
                # Not the others' failure: they commit theirs when they hold the lock.
                self._waiting[:0] = [(batch, f) for batch, f in group if f is not mine]
                raise
            at = 0
            for batch, future in group:
                share = dataclasses.replace(done, outcomes=done.outcomes[at : at + len(batch)])
                at += len(batch)
                if not future.done():
                    future.set_result(share)
            return mine.result()

    async def _commit(self, changes: Sequence[Change]) -> Committed:
        if not (self.remote.clone / "HEAD").is_file():
            await self.remote.sync()
        seconds = dict.fromkeys(STEPS, 0.0)
        if not self.protected:
            tip = await self._fetch(self.default_branch, seconds)
            if tip is None:
                raise StateNotCommitted(f"the branch {self.default_branch} does not exist")
            try:
                return await self._push_loop(self.default_branch, tip, changes, seconds)
            except _Protected:
                log.info(
                    "default branch protected, using a pull request",
                    extra={"branch": self.default_branch, "path": self.path},
                )
                self.protected = True
        return await self._via_pull(changes, seconds)

    async def _fetch(self, branch: str, seconds: dict[str, float]) -> str | None:
        started = time.perf_counter()
        try:
            return await self.remote.fetch(branch)
        finally:
            seconds["fetch"] += time.perf_counter() - started

    async def _push_loop(
        self,
        branch: str,
        base: str,
        changes: Sequence[Change],
        seconds: dict[str, float],
        *,
        replace: bool = False,
    ) -> Committed:
        done = Committed(None, branch, [], 0, seconds=seconds)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            done.attempts = attempt
            sha, done.outcomes = await self._commit_on(base, changes, seconds)
            # Applied again after a race, each change holds to the status it was first
            # applied over: a story someone changed meanwhile keeps their status.
            changes = [
                c if c.seen is not None else dataclasses.replace(c, seen=o.before)
                for c, o in zip(changes, done.outcomes, strict=True)
            ]
            if sha is None:
                return done
            started = time.perf_counter()
            try:
                await self.remote.push_commit(sha, branch, replace=replace)
            except GitFailed as exc:
                if any(word in exc.stderr for word in _PROTECTED):
                    raise _Protected from exc
                if not any(word in exc.stderr for word in _RACED):
                    raise
                log.info("state push overtaken, applying again", extra={"branch": branch})
                base = await self._fetch(branch, seconds) or base
                continue
            finally:
                seconds["push"] += time.perf_counter() - started
            done.sha = sha
            return done
        raise StateNotCommitted(f"{branch} moved under every one of {MAX_ATTEMPTS} pushes")

    async def _commit_on(
        self, base: str, changes: Sequence[Change], seconds: dict[str, float]
    ) -> tuple[str | None, list[ChangeOutcome]]:
        started = time.perf_counter()
        raw = await read_file(self.remote.clone, base, self.path)
        if raw is None:
            raise StateNotCommitted(f"{self.path} is not on the branch")
        current = parse(decode(raw, self.path), self.path)
        parsed = time.perf_counter()
        edited, outcomes = apply_parsed(current, changes, self.path)
        edited_at = time.perf_counter()
        seconds["parse"] += parsed - started
        seconds["edit"] += edited_at - parsed
        if edited == current.text:
            return None, outcomes
        tree = await write_tree(self.remote.clone, base, {self.path: edited.encode("utf-8")})
        written = time.perf_counter()
        seconds["write"] += written - edited_at
        sha = await commit_tree(self.remote.clone, tree, base, message(outcomes), self.identity)
        seconds["commit"] += time.perf_counter() - written
        return sha, outcomes

    async def _via_pull(self, changes: Sequence[Change], seconds: dict[str, float]) -> Committed:
        if self.pulls is None:
            raise StateNotCommitted(f"{self.default_branch} is protected and no pull requests")
        pull = await self.pulls.find_open()
        base = await self._fetch(STATE_BRANCH, seconds) if pull is not None else None
        if base is None:  # a new pull request: from the default branch as it is now
            base = await self._fetch(self.default_branch, seconds)
            if base is None:
                raise StateNotCommitted(f"the branch {self.default_branch} does not exist")
        done = await self._push_loop(STATE_BRANCH, base, changes, seconds, replace=pull is None)
        if done.sha is None:
            done.pull_request = pull
            return done
        body = render(
            "project/state_pull_request.md.j2",
            base=self.default_branch,
            path=self.path,
            changes=_shown(done.outcomes),
        )
        if pull is None:
            pull = await self.pulls.open("Agent Orchestrator: the sprint's state", body)
        else:
            await self.pulls.update(pull, body)
        done.pull_request = pull
        return done


class _Protected(Exception):
    """The push was refused by branch protection."""


def message(outcomes: Sequence[ChangeOutcome]) -> str:
    """`Story 1-2 → review [skip ci]`, or a list for a batch, then one line per change."""
    return render("project/state_commit.txt.j2", changes=_shown(outcomes)) + "\n"


def _shown(outcomes: Sequence[ChangeOutcome]) -> list[dict[str, str]]:
    shown = []
    for outcome in outcomes:
        if not outcome.written:
            continue
        change = outcome.change
        kind = kind_of(change.key)
        if kind == "story":
            label = "Story " + "-".join(change.key.split("-", 2)[:2])
        elif kind == "epic":
            label = "Epic " + change.key.removeprefix("epic-")
        else:
            label = change.key
        by = f"@{change.login}" if change.login else change.by
        shown.append(
            {"key": change.key, "label": label, "status": change.status,
             "before": outcome.before or "", "by": by}
        )  # fmt: skip
    return shown
