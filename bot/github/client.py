"""GitHub API clients for the App and its installations, polite about rate limits.

One shared aiohttp session and one ETag cache serve every client (a 304 costs no quota).
gidgethub's hooks carry the policy: a secondary rate limit (403/429 with `retry-after`) or
an exhausted quota that resets soon is waited out and retried; a 5xx is retried with
backoff; and writes to one installation are paced at least a second apart, as GitHub asks
of integrations that make many of them (labels across hundreds of repositories), and never
more than its secondary limit allows in a minute.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import cachetools
from gidgethub import HTTPException
from gidgethub import aiohttp as gh_aiohttp
from typing_extensions import override

from bot.github.auth import AppCredentials, InstallationTokens

log = logging.getLogger(__name__)

USER_AGENT = "agent-orchestrator"
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_SECONDARY_LIMIT_WAIT = 60.0  # GitHub: "wait at least one minute" when it gives no retry-after


def retry_delay(
    status: int, headers: Mapping[str, str], message: str, attempt: int, now: float
) -> float | None:
    """Seconds to wait before retrying a failed request, or None if it must not be retried."""
    if status in (403, 429):
        if "retry-after" in headers:
            try:
                return max(0.0, float(headers["retry-after"]))
            except ValueError:
                return _SECONDARY_LIMIT_WAIT
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(0.0, float(headers["x-ratelimit-reset"]) - now) + 1.0
        if status == 429 or "secondary rate limit" in message.lower():
            return _SECONDARY_LIMIT_WAIT
        return None  # a real "forbidden"
    if status in (500, 502, 503, 504):
        return float(2 ** (attempt - 1))
    return None


class WritePacing:
    """Hands out write slots per installation: at least `interval` seconds apart, and never
    more than `per_minute` in any minute (GitHub's secondary limit is about 80 content-creating
    requests a minute; a burst past it is refused for a minute or more).

    With a `journal` (an SQLite file) the window survives a restart: each slot is recorded at
    its wall-clock time, and the first reservation for a key after a start loads that key's
    slots of the last minute, so a server restarted a few times within a minute (a crash loop,
    a deploy) still keeps to the limit. Slots still ahead when the last process ended were
    never used (its writers died waiting for them) and are dropped. The journal is a help,
    never a cause of failure: on an SQLite error it logs one warning and pacing goes on in
    memory."""

    WINDOW_S = 60.0
    _PRUNE_EVERY = 256  # reservations between deletions of rows older than the window

    def __init__(
        self,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        per_minute: int = 75,
        *,
        journal: str | os.PathLike[str] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ):
        self._interval = interval
        self._clock = clock
        self._per_minute = per_minute
        self._next: dict[object, float] = {}
        self._slots: dict[object, collections.deque[float]] = {}
        self._wall = wall_clock
        self._journal_path = journal
        self._db: sqlite3.Connection | None = None
        self._since_prune = 0
        if journal is not None:
            try:
                self._db = self._open(Path(journal))
            except (sqlite3.Error, OSError) as exc:
                self._give_up(exc)

    def reserve(self, key: object) -> float:
        """Reserve the next slot for `key`; return how long to wait for it."""
        now = self._clock()
        if key not in self._slots:
            self._slots[key] = self._load(key, now)
            if self._slots[key]:
                self._next[key] = self._slots[key][-1] + self._interval
        slot = max(now, self._next.get(key, 0.0))
        recent = self._slots[key]
        if len(recent) >= self._per_minute:  # the minute's writes are used: the oldest frees one
            slot = max(slot, recent[-self._per_minute] + self.WINDOW_S)
        recent.append(slot)
        while recent[0] <= slot - self.WINDOW_S:
            recent.popleft()
        self._next[key] = slot + self._interval
        self._record(key, slot - now)
        return slot - now

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self, path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A short busy timeout: only this process writes the file, and a reservation runs on
        # the event loop; a lock held elsewhere is an error (pacing goes on in memory).
        conn = sqlite3.connect(path, timeout=0.2, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # A committed row is in the OS's page cache, safe from a killed process; only a
            # power cut may lose the last ones, which costs at most a minute's pacing.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS slots (key TEXT NOT NULL, at REAL NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS slots_by_key ON slots (key, at)")
            conn.execute("DELETE FROM slots WHERE at <= ?", (self._wall() - self.WINDOW_S,))
        except BaseException:
            conn.close()
            raise
        return conn

    def _load(self, key: object, now: float) -> collections.deque[float]:
        """`key`'s slots of the last minute from the journal, on this process's clock."""
        if self._db is None:
            return collections.deque()
        wall = self._wall()
        try:
            # Slots still ahead were reserved by a process that has ended: never used.
            self._db.execute("DELETE FROM slots WHERE key = ? AND at > ?", (str(key), wall))
            rows = self._db.execute(
                "SELECT at FROM slots WHERE key = ? AND at > ? ORDER BY at",
                (str(key), wall - self.WINDOW_S),
            ).fetchall()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return collections.deque()
        return collections.deque(now + (at - wall) for (at,) in rows)

    def _record(self, key: object, wait: float) -> None:
        if self._db is None:
            return
        try:
            wall = self._wall()
            self._db.execute("INSERT INTO slots (key, at) VALUES (?, ?)", (str(key), wall + wait))
            self._since_prune += 1
            if self._since_prune >= self._PRUNE_EVERY:
                self._since_prune = 0
                self._db.execute("DELETE FROM slots WHERE at <= ?", (wall - self.WINDOW_S,))
        except sqlite3.Error as exc:
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        log.warning(
            "the write pacing journal is unusable: pacing in memory only (a restart will not"
            " know this process's writes)",
            extra={"path": str(self._journal_path), "error": repr(exc)},
        )
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


class QuotaTracker:
    """The last rate-limit headers GitHub sent, per installation, shared by its clients."""

    def __init__(self) -> None:
        self._exhausted_until: dict[object, float] = {}

    def observe(self, key: object, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        reset = headers.get("x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        try:
            if int(remaining) > 0:
                self._exhausted_until.pop(key, None)
            else:
                self._exhausted_until[key] = float(reset)
        except ValueError:
            return

    def wait_needed(self, key: object, now: float) -> float:
        """Seconds until the quota resets, if the last answer said it was used up."""
        until = self._exhausted_until.get(key)
        return max(0.0, until - now) if until is not None else 0.0


class PoliteGitHubAPI(gh_aiohttp.GitHubAPI):
    """gidgethub's aiohttp client with retries for rate limits and 5xx, and paced writes."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        requester: str,
        *,
        pacing: WritePacing,
        pace_key: object,
        quota: QuotaTracker | None = None,
        max_retries: int = 3,
        max_wait: float = 120.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(session, requester, **kwargs)
        self._sleep = sleep
        self._pacing = pacing
        self._pace_key = pace_key
        self._quota = quota or QuotaTracker()
        self._max_retries = max_retries
        self._max_wait = max_wait

    @override
    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        status, response_headers, response_body = await self._transport(method, url, headers, body)
        self._quota.observe(self._pace_key, response_headers)
        return status, response_headers, response_body

    @override
    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _transport(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """The HTTP exchange itself (aiohttp); tests put scripted answers here."""
        return await super()._request(method, url, headers, body)

    @override
    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        # The quota is used up: wait for its reset if that is soon; else let GitHub refuse,
        # and the delivery is retried later with the dispatcher's backoff.
        exhausted = self._quota.wait_needed(self._pace_key, time.time())
        if 0 < exhausted <= self._max_wait:
            await self.sleep(exhausted + 1.0)
        if method.upper() in _WRITES:
            wait = self._pacing.reserve(self._pace_key)
            if wait > 0:
                await self.sleep(wait)

    @override
    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        headers = {k.lower(): v for k, v in exception.headers.items()}
        wait = retry_delay(
            int(exception.status_code), headers, str(exception), attempt, time.time()
        )
        if wait is None or attempt > self._max_retries or wait > self._max_wait:
            return False
        log.warning(
            "GitHub request will be retried",
            extra={"method": method, "url": url, "status": int(exception.status_code),
                   "attempt": attempt, "wait_s": round(wait, 1)},
        )  # fmt: skip
        await self.sleep(wait)
        return True


class GitHubClients:
    """Makes clients that act as the App or as one of its installations."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        credentials: AppCredentials,
        tokens: InstallationTokens | None = None,
        pacing: WritePacing | None = None,
        etag_cache_size: int = 2000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._api_url = api_url
        self._credentials = credentials
        self.tokens = tokens or InstallationTokens(credentials)
        self._pacing = pacing or WritePacing()
        self._quota = QuotaTracker()
        self._etags: cachetools.LRUCache[Any, Any] = cachetools.LRUCache(etag_cache_size)
        self._sleep = sleep  # waits for retries and pacing; tests record them instead

    def app(self) -> PoliteGitHubAPI:
        """A client that authenticates as the App itself (a JWT per request)."""
        return self._client(
            pace_key="app",
            app_id=self._credentials.app_id,
            private_key=self._credentials.private_key,
        )

    async def installation(self, installation_id: int) -> PoliteGitHubAPI:
        """A client with the installation's (cached, refreshed) access token."""
        token = await self.tokens.token(self.app(), installation_id)
        return self._client(pace_key=installation_id, oauth_token=token)

    def forget(self, installation_id: int) -> None:
        """The installation was deleted or suspended: drop its token."""
        self.tokens.forget(installation_id)

    def _client(self, *, pace_key: object, **auth: Any) -> PoliteGitHubAPI:
        return PoliteGitHubAPI(
            self._session,
            USER_AGENT,
            pacing=self._pacing,
            pace_key=pace_key,
            quota=self._quota,
            cache=self._etags,
            base_url=self._api_url,
            sleep=self._sleep,
            **auth,
        )


__all__ = ["GitHubClients", "PoliteGitHubAPI", "QuotaTracker", "WritePacing", "retry_delay"]
