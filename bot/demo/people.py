"""People in the demo: each acts and looks over the local GitHub's HTTP routes with their own
token, as a person's script does on github.com, and never writes state any other way."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

T = TypeVar("T")


class DemoFailed(Exception):
    """Something a person would have seen did not appear; the message says what."""


@dataclasses.dataclass
class Person:
    login: str
    token: str  # their personal access token
    api: str  # the local GitHub's API root
    repository: str  # owner/name
    session: aiohttp.ClientSession

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"token {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One REST call as this person; the parsed answer, or DemoFailed saying GitHub's no."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        async with self.session.request(method, url, json=body, headers=self._headers) as answer:
            text = await answer.text()
            try:
                data = json.loads(text) if text else None
            except ValueError:
                raise DemoFailed(
                    f"@{self.login}: {method} {path} → {answer.status} {text[:200]}"
                ) from None
            if answer.status >= 400:
                message = data.get("message") if isinstance(data, dict) else data
                raise DemoFailed(f"@{self.login}: {method} {path} → {answer.status} {message}")
            return data

    async def all(self, path: str) -> list[dict[str, Any]]:
        """Every page of a list, following GitHub's `Link` headers."""
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.api}{path}{'&' if '?' in path else '?'}per_page=100"
        while url:
            async with self.session.get(url, headers=self._headers) as answer:
                if answer.status >= 400:
                    raise DemoFailed(f"@{self.login}: GET {path} → {answer.status}")
                found.extend(await answer.json())
                following = answer.links.get("next")
                url = str(following["url"]) if following else None
        return found

    def repo(self, tail: str = "") -> str:
        return f"/repos/{self.repository}{tail}"

    async def open_issue(self, title: str, body: str) -> dict[str, Any]:
        issue: dict[str, Any] = await self.call(
            "POST", self.repo("/issues"), {"title": title, "body": body}
        )
        return issue

    async def comment(self, number: int, body: str) -> dict[str, Any]:
        comment: dict[str, Any] = await self.call(
            "POST", self.repo(f"/issues/{number}/comments"), {"body": body}
        )
        return comment

    async def comments(self, number: int) -> list[dict[str, Any]]:
        return await self.all(self.repo(f"/issues/{number}/comments"))

    async def file(self, path: str, ref: str) -> str | None:
        """A file's text at `ref`, as the contents API gives it raw; None where there is none."""
        url = f"{self.api}{self.repo('/contents/' + quote(path))}?ref={quote(ref, safe='')}"
        headers = self._headers | {"Accept": "application/vnd.github.raw+json"}
        async with self.session.get(url, headers=headers) as answer:
            return await answer.text() if answer.status == 200 else None

    async def install(self, sim_url: str, app_slug: str) -> None:
        """Installs the App, as on its install page (a web form; `/_sim/api` plays it)."""
        url = f"{sim_url}/_sim/api/{self.repository}/install"
        async with self.session.post(url, json={"as": self.login, "app": app_slug}) as answer:
            if answer.status >= 400:
                raise DemoFailed(f"@{self.login} could not install the App: {await answer.text()}")


async def until(
    what: str, look: Callable[[], Awaitable[T | None]], limit_s: float, every_s: float = 0.2
) -> T:
    """What a person would see on GitHub, once it is there; the bot acts in its own time."""
    try:
        async with asyncio.timeout(limit_s):
            while True:
                seen = await look()
                if seen is not None and seen is not False:
                    return seen
                await asyncio.sleep(every_s)
    except TimeoutError:
        raise DemoFailed(f"{what} did not happen within {limit_s:.0f} s") from None
