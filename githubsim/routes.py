"""The REST routes the stand-in serves, each with the permission GitHub asks of its caller.

A route declares the App permission it needs (as in GitHub's "Permissions required for GitHub
Apps" tables) and the repository role a person needs; `authorize` applies both, so a call
that the App's `app.yml` would not allow gets GitHub's 403.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from githubsim.auth import Authenticator, AuthError, Caller, allows
from githubsim.http import Refusal, json_answer, not_found, paginate, read_json
from githubsim.model import (
    LOCK_REASONS,
    MAX_BODY,
    REACTIONS,
    ROLES,
    Comment,
    Conflict,
    GitHubState,
    Issue,
    Label,
    Repository,
)
from githubsim.render import Renderer


@dataclasses.dataclass
class Call:
    request: web.Request
    caller: Caller
    repository: Repository | None
    body: Any

    @property
    def actor(self) -> Any:
        actor = self.caller.actor
        if actor is None:
            raise Refusal(401, "Requires authentication")
        return actor

    def repo(self) -> Repository:
        assert self.repository is not None
        return self.repository


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: str  # "repo", "app" (JWT), "installation" (installation token) or "any"
    permission: str | None = None  # the App permission, e.g. "issues"
    level: str = "read"
    user_role: str = "read"  # the repository role a person needs


class RestApi:
    def __init__(self, state: GitHubState, auth: Authenticator, render: Renderer) -> None:
        self.state, self.auth, self.render = state, auth, render
        self.extra: list[Route] = []  # routes other modules serve (git, pulls, checks)

    # Authorisation ------------------------------------------------------------------

    def authorize(self, route: Route, request: web.Request) -> tuple[Caller, Repository | None]:
        try:
            caller = self.auth.identify(request.headers.get("Authorization"))
        except AuthError as exc:
            raise Refusal(401, str(exc)) from exc
        if route.scope == "app":
            if caller.kind != "app":
                raise Refusal(401, "A JSON web token could not be decoded")
            return caller, None
        if caller.kind == "app":
            raise Refusal(403, "Resource not accessible by integration")
        if route.scope == "installation":
            if caller.kind != "installation":
                raise Refusal(403, "Resource not accessible by personal access token")
            return caller, None
        repository = None
        if route.scope == "repo":
            repository = self._repository(request)
            self._check_access(route, caller, repository)
        return caller, repository

    def _repository(self, request: web.Request) -> Repository:
        repository = self.state.repository(request.match_info["owner"], request.match_info["repo"])
        if repository is None:
            raise not_found()
        return repository

    def _check_access(self, route: Route, caller: Caller, repository: Repository) -> None:
        if caller.kind == "installation":
            assert caller.installation is not None
            if repository.id not in caller.installation.repository_ids:
                raise not_found()
            granted = caller.installation.app.permissions
            if route.permission is not None and not allows(
                granted.get(route.permission), route.level
            ):
                raise Refusal(403, "Resource not accessible by integration")
            return
        if caller.kind == "anonymous":
            if repository.private:
                raise not_found()
            if route.method != "GET":
                raise Refusal(401, "Requires authentication")
            return
        assert caller.user is not None
        role = repository.role_of(caller.user.login)
        if role == "none" and repository.private:
            raise not_found()
        if ROLES.index(role) < ROLES.index(route.user_role):
            raise Refusal(403, "Must have push access to repository")

    def wrap(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                caller, repository = self.authorize(route, request)
                body = (
                    await read_json(request)
                    if request.method in ("POST", "PATCH", "PUT", "DELETE")
                    else None
                )
                return await route.handler(Call(request, caller, repository, body))
            except Refusal as refusal:
                return refusal.response()
            except Conflict as conflict:
                return Refusal(422, str(conflict), conflict.errors).response()

        return handle

    def routes(self) -> list[Route]:
        r = Route
        repo = "/repos/{owner}/{repo}"
        return [
            *self.extra,
            r("GET", "/app", self.get_app, "app"),
            r("GET", "/app/installations", self.list_installations, "app"),
            r("GET", "/app/installations/{installation_id}", self.get_installation, "app"),
            r(
                "POST",
                "/app/installations/{installation_id}/access_tokens",
                self.create_token,
                "app",
            ),
            r("GET", "/installation/repositories", self.installation_repositories, "installation"),
            r("GET", repo, self.get_repository, "repo", "metadata"),
            r(
                "GET",
                repo + "/collaborators/{username}/permission",
                self.get_permission,
                "repo",
                "metadata",
            ),
            r("GET", repo + "/labels", self.list_labels, "repo", "issues"),
            r("POST", repo + "/labels", self.create_label, "repo", "issues", "write", "write"),
            r("GET", repo + "/labels/{name}", self.get_label, "repo", "issues"),
            r(
                "PATCH",
                repo + "/labels/{name}",
                self.update_label,
                "repo",
                "issues",
                "write",
                "write",
            ),
            r(
                "DELETE",
                repo + "/labels/{name}",
                self.delete_label,
                "repo",
                "issues",
                "write",
                "write",
            ),
            r("GET", repo + "/issues", self.list_issues, "repo", "issues"),
            r("POST", repo + "/issues", self.create_issue, "repo", "issues", "write", "read"),
            r("GET", repo + "/issues/comments", self.list_repo_comments, "repo", "issues"),
            r("GET", repo + "/issues/comments/{comment_id}", self.get_comment, "repo", "issues"),
            r(
                "PATCH",
                repo + "/issues/comments/{comment_id}",
                self.update_comment,
                "repo",
                "issues",
                "write",
                "read",
            ),
            r(
                "DELETE",
                repo + "/issues/comments/{comment_id}",
                self.delete_comment,
                "repo",
                "issues",
                "write",
                "read",
            ),
            r(
                "GET",
                repo + "/issues/comments/{comment_id}/reactions",
                self.list_comment_reactions,
                "repo",
                "issues",
            ),
            r(
                "POST",
                repo + "/issues/comments/{comment_id}/reactions",
                self.react_to_comment,
                "repo",
                "issues",
                "write",
                "read",
            ),
            r("GET", repo + "/issues/{issue_number}", self.get_issue, "repo", "issues"),
            r(
                "PATCH",
                repo + "/issues/{issue_number}",
                self.update_issue,
                "repo",
                "issues",
                "write",
                "read",
            ),
            r(
                "PUT",
                repo + "/issues/{issue_number}/lock",
                self.lock_issue,
                "repo",
                "issues",
                "write",
                "write",
            ),
            r(
                "DELETE",
                repo + "/issues/{issue_number}/lock",
                self.unlock_issue,
                "repo",
                "issues",
                "write",
                "write",
            ),
            r(
                "GET",
                repo + "/issues/{issue_number}/comments",
                self.list_comments,
                "repo",
                "issues",
            ),
            r(
                "POST",
                repo + "/issues/{issue_number}/comments",
                self.create_comment,
                "repo",
                "issues",
                "write",
                "read",
            ),
            r(
                "GET",
                repo + "/issues/{issue_number}/reactions",
                self.list_issue_reactions,
                "repo",
                "issues",
            ),
            r(
                "POST",
                repo + "/issues/{issue_number}/reactions",
                self.react_to_issue,
                "repo",
                "issues",
                "write",
                "read",
            ),
            r(
                "GET",
                repo + "/issues/{issue_number}/labels",
                self.list_issue_labels,
                "repo",
                "issues",
            ),
            r(
                "POST",
                repo + "/issues/{issue_number}/labels",
                self.add_issue_labels,
                "repo",
                "issues",
                "write",
                "triage",
            ),
            r(
                "PUT",
                repo + "/issues/{issue_number}/labels",
                self.set_issue_labels,
                "repo",
                "issues",
                "write",
                "triage",
            ),
            r(
                "DELETE",
                repo + "/issues/{issue_number}/labels",
                self.clear_issue_labels,
                "repo",
                "issues",
                "write",
                "triage",
            ),
            r(
                "DELETE",
                repo + "/issues/{issue_number}/labels/{name}",
                self.remove_issue_label,
                "repo",
                "issues",
                "write",
                "triage",
            ),
        ]

    # Helpers ----------------------------------------------------------------------------

    def _link_base(self, repository: Repository, suffix: str) -> str:
        return f"{self.render.api}/repositories/{repository.id}{suffix}"

    def issue_of(self, call: Call) -> Issue:
        """The issue (or pull request's issue) the route's `issue_number` names; else 404."""
        return self._issue(call)

    @staticmethod
    def _issue(call: Call) -> Issue:
        try:
            number = int(call.request.match_info["issue_number"])
        except ValueError as exc:
            raise not_found() from exc
        issue = call.repo().issues.get(number)
        if issue is None:
            raise not_found()
        return issue

    @staticmethod
    def _comment(call: Call) -> Comment:
        try:
            comment = call.repo().comments.get(int(call.request.match_info["comment_id"]))
        except ValueError as exc:
            raise not_found() from exc
        if comment is None:
            raise not_found()
        return comment

    @staticmethod
    def _label(call: Call) -> Label:
        label = call.repo().label_named(call.request.match_info["name"])
        if label is None:
            raise not_found()
        return label

    @staticmethod
    def _text(value: Any, resource: str, field: str, *, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": resource, "code": "missing_field", "field": field}],
            )
        if len(value) > MAX_BODY:
            raise Refusal(
                422,
                "Validation Failed",
                [
                    {
                        "resource": resource,
                        "code": "custom",
                        "field": field,
                        "message": f"{field} is too long (maximum is {MAX_BODY} characters)",
                    }
                ],
            )
        return value

    # The App ----------------------------------------------------------------------------

    async def get_app(self, call: Call) -> web.Response:
        assert call.caller.app is not None
        return json_answer(self.render.app(call.caller.app))

    async def list_installations(self, call: Call) -> web.Response:
        mine = [i for i in self.state.installations.values() if i.app is call.caller.app]
        chosen, link = paginate(call.request, mine, f"{self.render.api}/app/installations")
        return json_answer([self.render.installation(i) for i in chosen], link=link)

    def _own_installation(self, call: Call) -> Any:
        try:
            installation = self.state.installations.get(
                int(call.request.match_info["installation_id"])
            )
        except ValueError as exc:
            raise not_found() from exc
        if installation is None or installation.app is not call.caller.app:
            raise not_found()
        return installation

    async def get_installation(self, call: Call) -> web.Response:
        return json_answer(self.render.installation(self._own_installation(call)))

    async def create_token(self, call: Call) -> web.Response:
        installation = self._own_installation(call)
        if installation.suspended_at is not None:
            raise Refusal(403, "This installation has been suspended")
        token = self.auth.installation_token(installation)
        repositories = self.state.installed_repositories(installation)
        return json_answer(
            {
                "token": token.value,
                "expires_at": token.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                if token.expires_at
                else None,
                "permissions": dict(installation.app.permissions),
                "repository_selection": installation.repository_selection,
                "repositories": [self.render.repository(r) for r in repositories],
            },
            status=201,
        )

    async def installation_repositories(self, call: Call) -> web.Response:
        assert call.caller.installation is not None
        repositories = self.state.installed_repositories(call.caller.installation)
        chosen, link = paginate(
            call.request, repositories, f"{self.render.api}/installation/repositories"
        )
        return json_answer(
            {
                "total_count": len(repositories),
                "repository_selection": call.caller.installation.repository_selection,
                "repositories": [self.render.repository(r) for r in chosen],
            },
            link=link,
        )

    # Repositories and people ---------------------------------------------------------

    async def get_repository(self, call: Call) -> web.Response:
        full = {
            **self.render.repository(call.repo()),
            "network_count": 0,
            "subscribers_count": 0,
        }  # the full-repository form
        return json_answer(full)

    async def get_permission(self, call: Call) -> web.Response:
        login = call.request.match_info["username"]
        user = self.state.users.get(login.lower())
        if user is None:
            raise Refusal(404, f"{login} is not a user")
        role = call.repo().role_of(login)
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        collaborator = {
            **self.render.user(user),
            "role_name": role,
            "permissions": {
                "admin": role == "admin",
                "maintain": role in ("maintain", "admin"),
                "push": role in ("write", "maintain", "admin"),
                "triage": role not in ("none", "read"),
                "pull": role != "none",
            },
        }
        return json_answer({"permission": legacy, "role_name": role, "user": collaborator})

    # Labels -----------------------------------------------------------------------------

    async def list_labels(self, call: Call) -> web.Response:
        repository = call.repo()
        labels = sorted(repository.labels.values(), key=lambda lb: lb.id)
        chosen, link = paginate(call.request, labels, self._link_base(repository, "/labels"))
        return json_answer([self.render.label(repository, lb) for lb in chosen], link=link)

    async def create_label(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        name = self._text(body.get("name"), "Label", "name", required=True)
        assert name is not None
        label = self.state.create_label(
            call.repo(), call.actor, name, str(body.get("color", "ededed")), body.get("description")
        )
        return json_answer(self.render.label(call.repo(), label), status=201)

    async def get_label(self, call: Call) -> web.Response:
        return json_answer(self.render.label(call.repo(), self._label(call)))

    async def update_label(self, call: Call) -> web.Response:
        label = self.state.update_label(call.repo(), call.actor, self._label(call), call.body)
        return json_answer(self.render.label(call.repo(), label))

    async def delete_label(self, call: Call) -> web.Response:
        self.state.delete_label(call.repo(), call.actor, self._label(call))
        return web.Response(status=204)

    # Issues -------------------------------------------------------------------------------

    async def list_issues(self, call: Call) -> web.Response:
        repository, query = call.repo(), call.request.query
        state = query.get("state", "open")
        wanted = {n.strip().lower() for n in query.get("labels", "").split(",") if n.strip()}
        issues = [
            i
            for i in repository.issues.values()
            if (state == "all" or i.state == state)
            and wanted <= {repository.labels[x].name.lower() for x in i.labels}
            and ("creator" not in query or i.user.login.lower() == query["creator"].lower())
            and ("since" not in query or self.render_time(i.updated_at) >= query["since"])
        ]
        sort = query.get("sort", "created")

        def key(issue: Issue) -> tuple[Any, int]:
            if sort == "updated":
                return issue.updated_at, issue.number
            if sort == "comments":
                return len(issue.comment_ids), issue.number
            return issue.created_at, issue.number

        issues.sort(key=key, reverse=query.get("direction") != "asc")
        chosen, link = paginate(call.request, issues, self._link_base(repository, "/issues"))
        return json_answer([self.render.issue(repository, i) for i in chosen], link=link)

    @staticmethod
    def render_time(value: datetime.datetime) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")

    async def create_issue(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        title = self._text(body.get("title"), "Issue", "title", required=True)
        text = self._text(body.get("body"), "Issue", "body")
        assert title is not None
        labels = [
            lb if isinstance(lb, str) else lb.get("name", "") for lb in body.get("labels") or []
        ]
        issue = self.state.create_issue(
            call.repo(), call.actor, title, text, labels, via_app=call.caller.app
        )
        return json_answer(self.render.issue(call.repo(), issue), status=201)

    async def get_issue(self, call: Call) -> web.Response:
        return json_answer(self.render.issue(call.repo(), self._issue(call)))

    async def update_issue(self, call: Call) -> web.Response:
        issue, body = self._issue(call), dict(call.body or {})
        if "title" in body:
            self._text(body["title"], "Issue", "title", required=True)
        if "body" in body:
            self._text(body["body"], "Issue", "body")
        self.state.update_issue(call.repo(), call.actor, issue, body)
        return json_answer(self.render.issue(call.repo(), issue))

    async def lock_issue(self, call: Call) -> web.Response:
        reason = (call.body or {}).get("lock_reason")
        if reason is not None and reason not in LOCK_REASONS:
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": "Issue", "code": "invalid", "field": "lock_reason"}],
            )
        self.state.lock_issue(call.repo(), call.actor, self._issue(call), reason)
        return web.Response(status=204)

    async def unlock_issue(self, call: Call) -> web.Response:
        self.state.unlock_issue(call.repo(), call.actor, self._issue(call))
        return web.Response(status=204)

    # Comments ---------------------------------------------------------------------------

    async def list_comments(self, call: Call) -> web.Response:
        repository, issue = call.repo(), self._issue(call)
        comments = [repository.comments[c] for c in issue.comment_ids]
        since = call.request.query.get("since")
        if since:
            comments = [c for c in comments if self.render_time(c.updated_at) >= since]
        chosen, link = paginate(
            call.request, comments, self._link_base(repository, f"/issues/{issue.number}/comments")
        )
        return json_answer([self.render.comment(repository, c) for c in chosen], link=link)

    async def list_repo_comments(self, call: Call) -> web.Response:
        repository = call.repo()
        comments = sorted(repository.comments.values(), key=lambda c: c.id)
        chosen, link = paginate(
            call.request, comments, self._link_base(repository, "/issues/comments")
        )
        return json_answer([self.render.comment(repository, c) for c in chosen], link=link)

    async def create_comment(self, call: Call) -> web.Response:
        issue = self._issue(call)
        text = self._text((call.body or {}).get("body"), "IssueComment", "body", required=True)
        assert text is not None
        if (
            issue.locked
            and call.caller.kind == "user"
            and ROLES.index(call.repo().role_of(call.actor.login)) < ROLES.index("write")
        ):
            raise Refusal(403, "Unable to create comment because issue is locked.")
        comment = self.state.create_comment(
            call.repo(), call.actor, issue, text, via_app=call.caller.app
        )
        return json_answer(self.render.comment(call.repo(), comment), status=201)

    async def get_comment(self, call: Call) -> web.Response:
        return json_answer(self.render.comment(call.repo(), self._comment(call)))

    def _own_or_steering(self, call: Call, comment: Comment) -> None:
        if (
            call.caller.kind == "user"
            and comment.user.id != call.actor.id
            and ROLES.index(call.repo().role_of(call.actor.login)) < ROLES.index("write")
        ):
            raise Refusal(403, "Must have push access to repository")

    async def update_comment(self, call: Call) -> web.Response:
        comment = self._comment(call)
        self._own_or_steering(call, comment)
        text = self._text((call.body or {}).get("body"), "IssueComment", "body", required=True)
        assert text is not None
        self.state.update_comment(call.repo(), call.actor, comment, text)
        return json_answer(self.render.comment(call.repo(), comment))

    async def delete_comment(self, call: Call) -> web.Response:
        comment = self._comment(call)
        self._own_or_steering(call, comment)
        self.state.delete_comment(call.repo(), call.actor, comment)
        return web.Response(status=204)

    # Reactions ----------------------------------------------------------------------------

    def _react(self, call: Call, reactions: list[Any]) -> web.Response:
        content = (call.body or {}).get("content")
        if content not in REACTIONS:
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": "Reaction", "code": "invalid", "field": "content"}],
            )
        reaction, created = self.state.react(call.actor, reactions, content)
        return json_answer(self.render.reaction(reaction), status=201 if created else 200)

    def _reactions(self, call: Call, reactions: list[Any]) -> web.Response:
        content = call.request.query.get("content")
        chosen = [r for r in reactions if content in (None, r.content)]
        page, link = paginate(call.request, chosen, str(call.request.url.with_query(None)))
        return json_answer([self.render.reaction(r) for r in page], link=link)

    async def react_to_comment(self, call: Call) -> web.Response:
        return self._react(call, self._comment(call).reactions)

    async def list_comment_reactions(self, call: Call) -> web.Response:
        return self._reactions(call, self._comment(call).reactions)

    async def react_to_issue(self, call: Call) -> web.Response:
        return self._react(call, self._issue(call).reactions)

    async def list_issue_reactions(self, call: Call) -> web.Response:
        return self._reactions(call, self._issue(call).reactions)

    # Issue labels -----------------------------------------------------------------------

    def _issue_labels(self, call: Call, issue: Issue) -> web.Response:
        repository = call.repo()
        return json_answer(
            [self.render.label(repository, repository.labels[i]) for i in issue.labels]
        )

    @staticmethod
    def _names(body: Any) -> list[str]:
        items = body.get("labels", []) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise Refusal(422, "Invalid request: labels must be an array")
        return [str(i["name"]) if isinstance(i, dict) else str(i) for i in items]

    async def list_issue_labels(self, call: Call) -> web.Response:
        return self._issue_labels(call, self._issue(call))

    async def add_issue_labels(self, call: Call) -> web.Response:
        issue = self._issue(call)
        self.state.add_labels(call.repo(), call.actor, issue, self._names(call.body))
        return self._issue_labels(call, issue)

    async def set_issue_labels(self, call: Call) -> web.Response:
        issue = self._issue(call)
        self.state.set_labels(call.repo(), call.actor, issue, self._names(call.body))
        return self._issue_labels(call, issue)

    async def clear_issue_labels(self, call: Call) -> web.Response:
        self.state.set_labels(call.repo(), call.actor, self._issue(call), [])
        return web.Response(status=204)

    async def remove_issue_label(self, call: Call) -> web.Response:
        issue, label = self._issue(call), self._label(call)
        if label.id not in issue.labels:
            raise Refusal(404, "Label does not exist")
        self.state.remove_label(call.repo(), call.actor, issue, label)
        return self._issue_labels(call, issue)
