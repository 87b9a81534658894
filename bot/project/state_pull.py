"""The one open `ao/state` pull request through which the sprint's state reaches a protected
default branch: found by its head branch, opened once, its body kept current."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub.abc import GitHubAPI

from bot.project.state_commit import STATE_BRANCH


class GitHubStatePulls:
    def __init__(self, gh: GitHubAPI, repository: dict[str, Any]) -> None:
        self.gh = gh
        self.repository = repository
        self._pulls_url = str(repository["pulls_url"]).replace("{/number}", "")

    async def find_open(self) -> dict[str, Any] | None:
        owner = self.repository["owner"]["login"]
        head = quote(f"{owner}:{STATE_BRANCH}", safe="")
        async for pull in self.gh.getiter(f"{self._pulls_url}?head={head}&state=open"):
            return dict(pull)
        return None

    async def open(self, title: str, body: str) -> dict[str, Any]:
        data = {
            "title": title,
            "head": STATE_BRANCH,
            "base": self.repository["default_branch"],
            "body": body,
        }
        return dict(await self.gh.post(self._pulls_url, data=data))

    async def update(self, pull: dict[str, Any], body: str) -> None:
        if pull.get("body") != body:
            await self.gh.patch(pull["url"], data={"body": body})
