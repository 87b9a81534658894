"""Branch protection: the rules, what they refuse, and `…/branches/{branch}/protection`.

A protected branch refuses force pushes and deletions (unless allowed); with required pull
request reviews it refuses every direct push (changes go through a pull request with enough
approvals); with required status checks a pull request merges only when those contexts
passed on its head. git's pre-receive hook refuses pushes with GitHub's `GH006` message; the
merge route refuses merges with GitHub's 405 messages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from githubsim.http import Refusal, json_answer
from githubsim.model import GitHubState, Repository
from githubsim.routes import Call, Route


@dataclasses.dataclass
class Protection:
    branch: str
    #: Approvals a pull request needs; None: no pull request required (direct pushes allowed).
    required_approving_review_count: int | None = 1
    enforce_admins: bool = True
    required_status_checks: list[str] = dataclasses.field(default_factory=list)
    strict: bool = False
    allow_force_pushes: bool = False
    allow_deletions: bool = False
    dismiss_stale_reviews: bool = False

    @property
    def requires_pull_request(self) -> bool:
        return self.required_approving_review_count is not None


def from_request(branch: str, body: dict[str, Any]) -> Protection:
    """The rules a `PUT …/protection` body asks for (GitHub's field names)."""
    reviews = body.get("required_pull_request_reviews")
    checks = body.get("required_status_checks")
    if body.get("restrictions"):
        raise Refusal(
            422,
            "Validation Failed",
            [
                {
                    "resource": "ProtectedBranch",
                    "code": "custom",
                    "field": "restrictions",
                    "message": "push restrictions (users, teams, apps) are not modelled",
                }
            ],
        )
    return Protection(
        branch,
        required_approving_review_count=int(reviews.get("required_approving_review_count", 1))
        if isinstance(reviews, dict)
        else None,
        enforce_admins=bool(body.get("enforce_admins")),
        required_status_checks=[str(c) for c in checks.get("contexts") or []]
        if isinstance(checks, dict)
        else [],
        strict=bool(checks.get("strict")) if isinstance(checks, dict) else False,
        allow_force_pushes=bool(body.get("allow_force_pushes")),
        allow_deletions=bool(body.get("allow_deletions")),
        dismiss_stale_reviews=bool(reviews.get("dismiss_stale_reviews"))
        if isinstance(reviews, dict)
        else False,
    )


class ProtectionRest:
    def __init__(self, state: GitHubState, rules: dict[tuple[int, str], Protection]) -> None:
        self.state, self.rules = state, rules

    def routes(self) -> list[Route]:
        r, path = Route, "/repos/{owner}/{repo}/branches/{branch}/protection"
        admin = ("repo", "administration", "write", "admin")
        return [
            r("GET", path, self.get, "repo", "administration", "read", "admin"),
            r("PUT", path, self.put, *admin),
            r("DELETE", path, self.delete, *admin),
        ]

    def _key(self, call: Call) -> tuple[int, str]:
        return call.repo().id, call.request.match_info["branch"]

    async def get(self, call: Call) -> web.Response:
        rule = self.rules.get(self._key(call))
        if rule is None:
            raise Refusal(404, "Branch not protected")
        return json_answer(self.render(call.repo(), rule))

    async def put(self, call: Call) -> web.Response:
        rule = from_request(call.request.match_info["branch"], dict(call.body or {}))
        self.rules[self._key(call)] = rule
        return json_answer(self.render(call.repo(), rule))

    async def delete(self, call: Call) -> web.Response:
        if self.rules.pop(self._key(call), None) is None:
            raise Refusal(404, "Branch not protected")
        return web.Response(status=204)

    def render(self, repository: Repository, rule: Protection) -> dict[str, Any]:
        url = (
            f"{self.state.render.api}/repos/{repository.full_name}/branches/{rule.branch}"
            "/protection"
        )
        data: dict[str, Any] = {
            "url": url,
            "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
            "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": rule.enforce_admins},
            "required_linear_history": {"enabled": False},
            "allow_force_pushes": {"enabled": rule.allow_force_pushes},
            "allow_deletions": {"enabled": rule.allow_deletions},
            "block_creations": {"enabled": False},
            "required_conversation_resolution": {"enabled": False},
        }
        if rule.required_status_checks or rule.strict:
            data["required_status_checks"] = {
                "url": f"{url}/required_status_checks",
                "strict": rule.strict,
                "contexts": list(rule.required_status_checks),
                "contexts_url": f"{url}/required_status_checks/contexts",
                "checks": [{"context": c, "app_id": None} for c in rule.required_status_checks],
            }
        if rule.requires_pull_request:
            data["required_pull_request_reviews"] = {
                "url": f"{url}/required_pull_request_reviews",
                "dismiss_stale_reviews": rule.dismiss_stale_reviews,
                "require_code_owner_reviews": False,
                "required_approving_review_count": rule.required_approving_review_count,
                "require_last_push_approval": False,
            }
        return data
