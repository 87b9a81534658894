"""Who may steer the bot: people with write, maintain or admin permission, asked of GitHub."""

from __future__ import annotations

import http

import cachetools
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

STEERING_ROLES = frozenset({"admin", "maintain", "write"})


class PermissionCache:
    """The collaborator-permission answer per (repository, user), kept briefly."""

    def __init__(self, ttl: float = 60.0, maxsize: int = 4096) -> None:
        self._cache: cachetools.TTLCache[tuple[str, str], bool] = cachetools.TTLCache(maxsize, ttl)

    async def can_steer(self, gh: GitHubAPI, repository_url: str, user: str) -> bool:
        key = (repository_url, user.lower())
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            answer = await gh.getitem(
                repository_url + "/collaborators/{username}/permission", {"username": user}
            )
        except BadRequest as exc:
            if exc.status_code != http.HTTPStatus.NOT_FOUND:  # 404: no such collaborator
                raise
            allowed = False
        else:
            role = answer.get("role_name") or answer.get("permission")
            allowed = role in STEERING_ROLES
        self._cache[key] = allowed
        return allowed
