"""One shared fake GitHub client for handler tests: gidgethub's own client over a dict.

It subclasses `gidgethub.abc.GitHubAPI` and replaces only `_request`, so URL templating,
headers, JSON and error mapping stay gidgethub's. Response bodies follow GitHub's REST
documentation; the issue-comment objects are built from the recorded webhook example.
End-to-end flows move to the OpenAPI-checked GitHub stand-in when it lands.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from gidgethub.abc import GitHubAPI

APP_ID = 4242
BOT = {"login": "agent-orchestrator[bot]", "id": 99, "type": "Bot"}


class FakeGitHub(GitHubAPI):
    def __init__(self, comment_template: dict[str, Any]) -> None:
        super().__init__("tests", oauth_token="ghs_test")
        self._template = comment_template
        self.permissions: dict[str, str] = {}  # login -> role_name; others are readers
        self.comments: dict[str, list[dict[str, Any]]] = {}  # comments_url -> comments
        self.reactions: list[tuple[str, str]] = []  # (comment url, content)
        self.requests: list[tuple[str, str]] = []
        self.fail_next: dict[tuple[str, str], int] = {}  # (method, url suffix) -> status
        self.labels: dict[str, list[dict[str, Any]]] = {}  # "owner/repo" -> labels
        self.installation_repositories: list[dict[str, Any]] = []
        self._ids = itertools.count(900_000_001)

    def add_comment(self, comments_url: str, body: str, *, by_app: bool) -> None:
        comment = copy.deepcopy(self._template)
        comment.update(id=next(self._ids), body=body)
        comment["user"] = BOT if by_app else {**comment["user"], "login": "someone"}
        comment["performed_via_github_app"] = {"id": APP_ID, "slug": "agent-orchestrator"} \
            if by_app else None  # fmt: skip
        self.comments.setdefault(comments_url, []).append(comment)

    def posted(self, comments_url: str) -> list[str]:
        return [c["body"] for c in self.comments.get(comments_url, []) if c["user"] is BOT]

    async def _request(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""):
        self.requests.append((method, url))
        for (fail_method, suffix), status in list(self.fail_next.items()):
            if method == fail_method and url.endswith(suffix):
                del self.fail_next[(fail_method, suffix)]
                return self._json(status, {"message": "Server Error"})
        data = json.loads(body) if body else None
        if match := re.search(r"/collaborators/([^/]+)/permission$", url):
            role = self.permissions.get(match.group(1), "read")
            permission = {"maintain": "write", "triage": "read"}.get(role, role)
            return self._json(200, {"permission": permission, "role_name": role,
                                    "user": {"login": match.group(1)}})  # fmt: skip
        if method == "POST" and url.endswith("/reactions"):
            self.reactions.append((url.removesuffix("/reactions"), data["content"]))
            return self._json(201, {"id": len(self.reactions), "content": data["content"],
                                    "user": BOT})  # fmt: skip
        if url.endswith("/installation/repositories") and method == "GET":
            repos = self.installation_repositories
            return self._json(200, {"total_count": len(repos), "repository_selection": "all",
                                    "repositories": repos})  # fmt: skip
        if match := re.search(r"/repos/([^/]+/[^/]+)/labels$", url):
            labels = self.labels.setdefault(match.group(1), [])
            if method == "GET":
                return self._json(200, labels)
            if any(label["name"].lower() == data["name"].lower() for label in labels):
                return self._json(422, {"message": "Validation Failed", "errors": [
                    {"resource": "Label", "code": "already_exists", "field": "name"}]})  # fmt: skip
            label = {"id": next(self._ids), "node_id": "LA_x", "url": f"{url}/{data['name']}",
                     "name": data["name"], "color": data["color"],
                     "description": data.get("description"), "default": False}  # fmt: skip
            labels.append(label)
            return self._json(201, label)
        if url.endswith("/comments") and method == "GET":
            return self._json(200, self.comments.get(url, []))
        if url.endswith("/comments") and method == "POST":
            self.add_comment(url, data["body"], by_app=True)
            return self._json(201, self.comments[url][-1])
        return self._json(404, {"message": "Not Found"})

    @staticmethod
    def _json(status: int, payload: Any):
        headers = {"content-type": "application/json; charset=utf-8",
                   "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
                   "x-ratelimit-reset": "4102444800", "x-ratelimit-used": "1"}  # fmt: skip
        return status, headers, json.dumps(payload).encode()

    async def sleep(self, seconds: float) -> None:
        return None


class FakeClients:
    """Stands in for `GitHubClients`: every installation gets the same fake."""

    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.installations: list[int] = []

        self.forgotten: list[int] = []

    async def installation(self, installation_id: int) -> FakeGitHub:
        self.installations.append(installation_id)
        return self.gh

    def forget(self, installation_id: int) -> None:
        self.forgotten.append(installation_id)
