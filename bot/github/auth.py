"""The App's identity: its private key, App JWTs, and cached installation access tokens.

Installation tokens last an hour. They are cached per installation and refreshed a few
minutes before GitHub would reject them; concurrent callers share one request for a new
token; an installation that is deleted or suspended is forgotten at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachetools
from gidgethub import apps
from gidgethub.abc import GitHubAPI

#: Refresh this long before GitHub's `expires_at`, so no request carries a dying token.
REFRESH_MARGIN = datetime.timedelta(minutes=5)


class CredentialsError(ValueError):
    """The App's id or private key is missing or unusable; the message says which."""


@dataclasses.dataclass(frozen=True, slots=True)
class AppCredentials:
    app_id: str
    private_key: str = dataclasses.field(repr=False)

    @classmethod
    def load(cls, app_id: str | None, key: str | None, key_path: str | None) -> AppCredentials:
        """From GITHUB_APP_ID and GITHUB_PRIVATE_KEY (PEM text) or GITHUB_PRIVATE_KEY_PATH."""
        if not app_id:
            raise CredentialsError("GITHUB_APP_ID is not set")
        if key and key_path:
            raise CredentialsError("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both")
        if key_path:
            try:
                key = Path(key_path).read_text()
            except OSError as exc:
                raise CredentialsError(f"GITHUB_PRIVATE_KEY_PATH: {exc.strerror}") from exc
        if not key:
            raise CredentialsError("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is not set")
        key = key.replace("\\n", "\n").strip() + "\n"  # one-line env values escape newlines
        if "PRIVATE KEY-----" not in key:
            raise CredentialsError("the private key is not a PEM file (download it from the App)")
        return cls(app_id=app_id, private_key=key)

    def jwt(self) -> str:
        """A fresh App JWT (valid ~9 minutes), for /app endpoints."""
        return apps.get_jwt(app_id=self.app_id, private_key=self.private_key)


@dataclasses.dataclass(frozen=True, slots=True)
class InstallationToken:
    token: str = dataclasses.field(repr=False)
    expires_at: datetime.datetime


def _parse_expiry(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class InstallationTokens:
    """Installation access tokens, cached until shortly before they expire."""

    def __init__(
        self,
        credentials: AppCredentials,
        *,
        max_installations: int = 10_000,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._cache: cachetools.TLRUCache[int, InstallationToken] = cachetools.TLRUCache(
            maxsize=max_installations,
            ttu=lambda _key, value, _now: (value.expires_at - REFRESH_MARGIN).timestamp(),
            timer=lambda: self._clock().timestamp(),
        )
        self._inflight: dict[int, asyncio.Future[InstallationToken]] = {}
        self._forgotten: dict[int, int] = {}  # times forgotten, to discard a racing fetch

    async def token(self, gh: GitHubAPI, installation_id: int) -> str:
        """A valid token for the installation; `gh` is used only when a new one is needed."""
        cached = self._cache.get(installation_id)
        if cached is not None:
            return cached.token
        pending = self._inflight.get(installation_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(gh, installation_id))
            self._inflight[installation_id] = pending
            pending.add_done_callback(
                lambda done: (
                    self._inflight.pop(installation_id, None)
                    if self._inflight.get(installation_id) is done
                    else None
                )
            )
        return (await asyncio.shield(pending)).token

    def forget(self, installation_id: int) -> None:
        """Drop the installation's token (deleted, suspended, or a 401 seen with it)."""
        self._cache.pop(installation_id, None)
        self._inflight.pop(installation_id, None)
        self._forgotten[installation_id] = self._forgotten.get(installation_id, 0) + 1

    async def _fetch(self, gh: GitHubAPI, installation_id: int) -> InstallationToken:
        generation = self._forgotten.get(installation_id, 0)
        response: dict[str, Any] = await apps.get_installation_access_token(
            gh,
            installation_id=str(installation_id),
            app_id=self._credentials.app_id,
            private_key=self._credentials.private_key,
        )
        token = InstallationToken(response["token"], _parse_expiry(response["expires_at"]))
        if self._forgotten.get(installation_id, 0) == generation:
            self._cache[installation_id] = token
        return token
