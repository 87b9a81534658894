"""Acting as people over HTTP: `/_sim/api/…` routes for scripts and people outside Python.

Each route takes a JSON body naming the person (`"as": "mona"`) and does what that person
would do on github.com, through the same methods tests use (so the webhooks are the same).
Only `Content-Type: application/json` is accepted: a browser cannot send that from another
site without a CORS preflight, which is never granted, so another page cannot act as @mona.
The routes are listed, with a curl example each, in the README.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from githubsim.checks import CheckRefused
from githubsim.model import Conflict, Repository
from githubsim.people_git import PushRefused
from githubsim.pulls_model import NotMergeable
from githubsim.reviews import ReviewRefused

if TYPE_CHECKING:
    from githubsim.server import GitHubSim

API = "/_sim/api/{owner}/{repo}"
Action = Callable[[Repository, str, dict[str, Any], dict[str, str]], Awaitable[dict[str, Any]]]


class PeopleHttp:
    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self.actions: dict[str, Action] = {
            "install": self.install,
            "issues": self.open_issue,
            "issues/{number}/comments": self.comment,
            "issues/{number}/labels": self.label,
            "push": self.push,
            "pulls": self.open_pull,
            "pulls/{number}/reviews": self.review,
            "pulls/{number}/merge": self.merge,
            "check-runs/{number}/press": self.press,
        }

    def add_routes(self, app: web.Application) -> None:
        for tail, action in self.actions.items():
            app.router.add_post(f"{API}/{tail}", self._handler(action))

    def _handler(self, action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if request.content_type != "application/json":
                return _json({"message": "Send JSON (Content-Type: application/json)"}, 415)
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                return _json({"message": "Problems parsing JSON"}, 400)
            repository = self.sim.state.repository(
                request.match_info["owner"], request.match_info["repo"]
            )
            person = body.get("as") if isinstance(body, dict) else None
            if repository is None or not isinstance(person, str) or not person:
                return _json({"message": 'Name a repository that exists and a person ("as")'}, 404)
            return await self.run(action, repository, person, body, dict(request.match_info))

        return handle

    async def run(
        self,
        action: Action,
        repository: Repository,
        person: str,
        body: dict[str, Any],
        where: dict[str, str],
    ) -> web.Response:
        """Do it and answer JSON; refusals answer as GitHub would refuse the person."""
        try:
            return _json(await action(repository, person, body, where), 201)
        except Conflict as exc:
            return _json({"message": str(exc), "errors": exc.errors}, 422)
        except ReviewRefused as exc:
            return _json({"message": "Unprocessable Entity", "errors": [str(exc)]}, 422)
        except PushRefused as exc:
            return _json({"message": "Push refused", "output": exc.output}, 409)
        except NotMergeable as exc:
            return _json({"message": str(exc)}, exc.status)
        except CheckRefused as exc:
            return _json({"message": str(exc)}, exc.status)
        except (KeyError, AssertionError, ValueError, TypeError) as exc:
            return _json({"message": f"Not found or not valid: {exc}"}, 404)

    # The actions ---------------------------------------------------------------------------

    async def install(
        self, repository: Repository, person: str, body: dict[str, Any], _: dict[str, str]
    ) -> dict[str, Any]:
        """The person installs an App on this repository, as on the App's install page (only
        an owner or admin of the account may: GitHub asks the owner otherwise)."""
        slug = str(body["app"])
        app = next((a for a in self.sim.state.apps.values() if a.slug == slug), None)
        if app is None:
            raise KeyError(f"no App {slug!r}")
        if repository.role_of(person) != "admin":
            raise Conflict(f"@{person} cannot install Apps on {repository.full_name}")
        installation = self.sim.install(app, [repository], by=person)
        return {"installation": installation.id}

    async def open_issue(
        self, repository: Repository, person: str, body: dict[str, Any], _: dict[str, str]
    ) -> dict[str, Any]:
        issue = self.sim.open_issue(
            repository,
            by=person,
            title=str(body["title"]),
            body=body.get("body"),
            labels=tuple(body.get("labels") or ()),
        )
        return {
            "number": issue.number,
            "html_url": self._html(repository, f"issues/{issue.number}"),
        }

    async def comment(
        self, repository: Repository, person: str, body: dict[str, Any], where: dict[str, str]
    ) -> dict[str, Any]:
        number = int(where["number"])
        comment = self.sim.comment(repository, number, by=person, body=str(body["body"]))
        return {"id": comment.id}

    async def label(
        self, repository: Repository, person: str, body: dict[str, Any], where: dict[str, str]
    ) -> dict[str, Any]:
        self.sim.add_label(repository, int(where["number"]), by=person, name=str(body["name"]))
        return {"labeled": str(body["name"])}

    async def push(
        self, repository: Repository, person: str, body: dict[str, Any], _: dict[str, str]
    ) -> dict[str, Any]:
        files = body.get("files")
        if not isinstance(files, dict):
            raise ValueError("files must map paths to contents (null deletes)")
        sha = await self.sim.push(
            repository,
            by=person,
            files={str(k): None if v is None else str(v) for k, v in files.items()},
            branch=body.get("branch"),
            message=str(body.get("message") or "Update files"),
        )
        return {"sha": sha}

    async def open_pull(
        self, repository: Repository, person: str, body: dict[str, Any], _: dict[str, str]
    ) -> dict[str, Any]:
        pull = await self.sim.open_pull_request(
            repository,
            by=person,
            head=str(body["head"]),
            base=body.get("base"),
            title=str(body.get("title") or body["head"]),
            body=body.get("body"),
            draft=bool(body.get("draft")),
        )
        return {"number": pull.number, "html_url": self._html(repository, f"pull/{pull.number}")}

    async def review(
        self, repository: Repository, person: str, body: dict[str, Any], where: dict[str, str]
    ) -> dict[str, Any]:
        review = await self.sim.review(
            repository,
            int(where["number"]),
            by=person,
            event=str(body.get("event", "COMMENT")),
            body=str(body.get("body") or ""),
            comments=list(body.get("comments") or []),
        )
        return {"id": review.id, "state": review.state}

    async def merge(
        self, repository: Repository, person: str, body: dict[str, Any], where: dict[str, str]
    ) -> dict[str, Any]:
        number = int(where["number"])
        method = str(body.get("method", "merge"))
        return {"sha": await self.sim.merge(repository, number, by=person, method=method)}

    async def press(
        self, repository: Repository, person: str, body: dict[str, Any], where: dict[str, str]
    ) -> dict[str, Any]:
        identifier = str(body["identifier"])
        self.sim.press_button(repository, int(where["number"]), identifier, by=person)
        return {"pressed": identifier}

    def _html(self, repository: Repository, tail: str) -> str:
        return f"{self.sim.state.render.web}/{repository.full_name}/{tail}"


def _json(data: dict[str, Any], status: int) -> web.Response:
    return web.json_response(data, status=status)
