"""`POST /graphql` for what REST lacks: the `pinIssue`, `unpinIssue` and
`markPullRequestReadyForReview` mutations (REST cannot take a pull request out of draft), and
the query `repository(owner:, name:) { pinnedIssues { nodes { issue { … } } } }`.

Every query is parsed and validated against GitHub's published schema
(`@octokit/graphql-schema`, pinned and checksummed in tests/npm-fixtures.json) and executed by
graphql-core against it, so a query GitHub would refuse is refused here too (and recorded as
a violation). GitHub's limit holds: at most three pinned issues per repository.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from githubsim.auth import Authenticator, AuthError, Caller, allows
from githubsim.model import ROLES, GitHubState, Issue, Repository
from githubsim.pulls_model import Pulls
from githubsim.render import node_id

#: GitHub's limit on pinned issues in one repository.
MAX_PINNED = 3


class GraphQLDescription:
    """GitHub's GraphQL schema, built once. Its SDL defines two `EnterpriseOwnerInfo` fields
    twice, so strict SDL validation is off (graphql-core keeps one of each)."""

    def __init__(self, path: Path) -> None:
        from graphql import build_schema

        self.source = path
        # GitHub's schema has inconsistencies newer graphql-core releases refuse (a deprecated
        # field implementing an undeprecated one, fields defined twice): taken as published.
        self.schema = build_schema(path.read_text(), assume_valid_sdl=True, assume_valid=True)


class Refused(Exception):
    """A GraphQL error of GitHub's `type` (UNPROCESSABLE, FORBIDDEN, NOT_FOUND)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def issue_of_node(state: GitHubState, value: str, kind: str = "Issue") -> tuple[Repository, Issue]:
    """The issue (or, with kind `PullRequest`, the pull request's issue) a node id names."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4)).decode()
        node = int(decoded.split(f":{kind}", 1)[1])
    except (binascii.Error, UnicodeDecodeError, IndexError, ValueError) as exc:
        raise Refused(
            "NOT_FOUND", f"Could not resolve to a node with the global id of '{value}'"
        ) from exc
    for repository in state.repositories.values():
        for issue in repository.issues.values():
            wanted = issue.pull if kind == "PullRequest" else issue
            if wanted is not None and wanted.id == node:
                return repository, issue
    raise Refused("NOT_FOUND", f"Could not resolve to a node with the global id of '{value}'")


class GraphQLApi:
    def __init__(
        self,
        state: GitHubState,
        auth: Authenticator,
        description: GraphQLDescription | None,
        on_violation: Callable[[str], None],
    ) -> None:
        self.state, self.auth, self.description = state, auth, description
        self.on_violation = on_violation
        self.pinned: dict[int, list[int]] = {}  # repository id -> issue ids, in pin order
        self.pulls: Pulls | None = None  # set by the server: ready_for_review lives there

    async def handle(self, request: web.Request) -> web.Response:
        try:
            caller = self.auth.identify(request.headers.get("Authorization"))
        except AuthError as exc:
            return web.json_response({"message": str(exc)}, status=401)
        if caller.kind in ("anonymous", "app"):
            return web.json_response(
                {"message": "This endpoint requires you to be authenticated."}, status=401
            )
        try:
            body = json.loads(await request.read())
            query, variables = body["query"], body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return web.json_response({"message": "Problems parsing JSON"}, status=400)
        if self.description is None:
            return web.json_response(
                {"errors": [{"message": "no GraphQL schema loaded (scripts/prefetch-npm)"}]}
            )
        from graphql import execute_sync, parse, validate
        from graphql.error import GraphQLError

        try:
            document = parse(query)
        except GraphQLError as exc:
            self.on_violation(exc.message)
            return web.json_response({"errors": [exc.formatted]})
        problems = validate(self.description.schema, document)
        if problems:
            self.on_violation("; ".join(p.message for p in problems)[:2000])
            return web.json_response({"errors": [p.formatted for p in problems]})
        result = execute_sync(  # parsed and validated above, once (graphql_sync did both again)
            self.description.schema,
            document,
            root_value=_Root(self, caller),
            variable_values=variables,
            check_sync=True,
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = []
            for error in result.errors:
                formatted = dict(error.formatted)
                if isinstance(error.original_error, Refused):
                    formatted["type"] = error.original_error.kind
                answer["errors"].append(formatted)
        return web.json_response(answer)

    def may_pin(self, caller: Caller, repository: Repository) -> bool:
        if caller.installation is not None:
            return repository.id in caller.installation.repository_ids and allows(
                caller.installation.app.permissions.get("issues"), "write"
            )
        assert caller.user is not None
        return ROLES.index(repository.role_of(caller.user.login)) >= ROLES.index("write")

    def may_read(self, caller: Caller, repository: Repository) -> bool:
        if caller.installation is not None:
            return repository.id in caller.installation.repository_ids
        assert caller.user is not None
        return ROLES.index(repository.role_of(caller.user.login)) >= ROLES.index("read")

    def pin(self, caller: Caller, issue_node: str, *, pin: bool) -> dict[str, Any]:
        repository, issue = issue_of_node(self.state, issue_node)
        if not self.may_pin(caller, repository):
            who = caller.actor.login if caller.actor else "You"
            raise Refused("FORBIDDEN", f"{who} does not have permission to pin issues")
        pinned = self.pinned.setdefault(repository.id, [])
        if pin and issue.id not in pinned:
            if len(pinned) >= MAX_PINNED:
                raise Refused(
                    "UNPROCESSABLE", f"Repository can't have more than {MAX_PINNED} pinned issues"
                )
            pinned.append(issue.id)
            self._announce("pinned", repository, issue, caller)
        elif not pin and issue.id in pinned:
            pinned.remove(issue.id)
            self._announce("unpinned", repository, issue, caller)
        return self.issue_node(repository, issue)

    def ready_for_review(self, caller: Caller, pull_node: str) -> dict[str, Any]:
        """GitHub's `markPullRequestReadyForReview`: the pull request leaves draft (a webhook
        `pull_request` `ready_for_review`); one that is not a draft is left as it is."""
        repository, issue = issue_of_node(self.state, pull_node, "PullRequest")
        pull = issue.pull
        assert pull is not None and self.pulls is not None
        allowed = (
            repository.id in caller.installation.repository_ids
            and allows(caller.installation.app.permissions.get("pull_requests"), "write")
            if caller.installation is not None
            else caller.user is not None
            and (
                caller.user.id == issue.user.id
                or ROLES.index(repository.role_of(caller.user.login)) >= ROLES.index("write")
            )
        )
        if not allowed:
            who = caller.actor.login if caller.actor else "You"
            raise Refused(
                "FORBIDDEN", f"{who} does not have permission to mark this pull request ready"
            )
        if issue.state != "open":
            raise Refused("UNPROCESSABLE", "Pull request is closed")
        assert caller.actor is not None
        self.pulls.ready_for_review(repository, pull, caller.actor)
        return {
            "id": node_id("PullRequest", pull.id),
            "number": issue.number,
            "title": issue.title,
            "isDraft": pull.draft,
            "state": issue.state.upper(),
            "url": f"{self.state.render.web}/{repository.full_name}/pull/{issue.number}",
        }

    def _announce(self, action: str, repository: Repository, issue: Issue, caller: Caller) -> None:
        assert caller.actor is not None
        self.state.announce(
            "issues",
            action,
            repository,
            caller.actor,
            issue=self.state.render.issue(repository, issue, webhook=True),
        )

    def issue_node(self, repository: Repository, issue: Issue) -> dict[str, Any]:
        return {
            "id": node_id("Issue", issue.id),
            "databaseId": issue.id,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body or "",
            "state": issue.state.upper(),
            "isPinned": issue.id in self.pinned.get(repository.id, []),
            "url": f"{self.state.render.web}/{repository.full_name}/issues/{issue.number}",
        }


class _Root:
    """The query and mutation root graphql-core resolves fields on (a callable field is
    called)."""

    def __init__(self, api: GraphQLApi, caller: Caller) -> None:
        self.api, self.caller = api, caller

    def repository(self, _info: Any, owner: str, name: str, **_: Any) -> dict[str, Any] | None:
        repository = self.api.state.repository(owner, name)
        if repository is None or not self.api.may_read(self.caller, repository):
            raise Refused(
                "NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'."
            )
        issues = {issue.id: issue for issue in repository.issues.values()}
        pinned = [issues[i] for i in self.api.pinned.get(repository.id, []) if i in issues]

        def pinned_issues(_info: Any, first: int | None = None, **_: Any) -> dict[str, Any]:
            shown = pinned[:first] if first is not None else pinned
            nodes = [{"issue": self.api.issue_node(repository, i)} for i in shown]
            return {"nodes": nodes, "totalCount": len(pinned)}

        return {"name": repository.name, "nameWithOwner": repository.full_name,
                "pinnedIssues": pinned_issues}  # fmt: skip

    def pinIssue(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        issue = self.api.pin(self.caller, str(input["issueId"]), pin=True)
        return {"issue": issue, "clientMutationId": input.get("clientMutationId")}

    def unpinIssue(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        issue = self.api.pin(self.caller, str(input["issueId"]), pin=False)
        return {"issue": issue, "clientMutationId": input.get("clientMutationId")}

    def markPullRequestReadyForReview(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        pull = self.api.ready_for_review(self.caller, str(input["pullRequestId"]))
        return {"pullRequest": pull, "clientMutationId": input.get("clientMutationId")}
