"""Who an issue is assigned to, and its sub-issues: the changes, their webhooks, the routes.

As on GitHub, only people with push access change assignees (others are silently ignored,
and so are assignees who are not collaborators); a sub-issue has one parent, in a repository
of the same owner; adding one sends `sub_issues` `sub_issue_added` (about the parent) and
`parent_issue_added` (about the child), removing one the `…_removed` pair.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from githubsim.http import Refusal, json_answer, not_found, paginate
from githubsim.model import ROLES, Conflict, GitHubState, Issue, Repository, User
from githubsim.routes import Call, RestApi, Route

#: GitHub's limit on sub-issues under one parent.
MAX_SUB_ISSUES = 100


def assignable(repository: Repository, login: str) -> bool:
    if login.lower() == repository.owner.login.lower():
        return True
    return repository.roles.get(login.lower(), "none") != "none"


def can_push(repository: Repository, user: User) -> bool:
    if user.type == "Bot":
        return True  # an App acts with its installation's permissions, checked by the route
    return ROLES.index(repository.role_of(user.login)) >= ROLES.index("write")


class IssueLinks:
    def __init__(self, state: GitHubState) -> None:
        self.state = state

    def assign(self, repository: Repository, sender: User, issue: Issue, logins: list[str]) -> None:
        if not can_push(repository, sender):
            return
        for login in logins:
            if not assignable(repository, login):
                continue
            user = self.state.user(login)
            if any(u.id == user.id for u in issue.assignees) or len(issue.assignees) >= 10:
                continue
            issue.assignees.append(user)
            issue.updated_at = self.state.clock()
            self._emit("assigned", repository, issue, sender, user)

    def unassign(
        self, repository: Repository, sender: User, issue: Issue, logins: list[str]
    ) -> None:
        if not can_push(repository, sender):
            return
        for login in logins:
            user = next((u for u in issue.assignees if u.login.lower() == login.lower()), None)
            if user is None:
                continue
            issue.assignees.remove(user)
            issue.updated_at = self.state.clock()
            self._emit("unassigned", repository, issue, sender, user)

    def _emit(
        self, action: str, repository: Repository, issue: Issue, sender: User, user: User
    ) -> None:
        if issue.pull is not None and self.state.announce_pull is not None:
            self.state.announce_pull(
                action, repository, issue, sender, {"assignee": self.state.render.user(user)}
            )
            return
        self.state.announce(
            "issues",
            action,
            repository,
            sender,
            issue=self.state.render.issue(repository, issue, webhook=True),
            assignee=self.state.render.user(user),
        )

    # Sub-issues --------------------------------------------------------------------------

    def find(self, issue_id: int) -> tuple[Repository, Issue] | None:
        for repository in self.state.repositories.values():
            for issue in repository.issues.values():
                if issue.id == issue_id:
                    return repository, issue
        return None

    def add_sub_issue(
        self,
        repository: Repository,
        sender: User,
        parent: Issue,
        sub_issue_id: int,
        *,
        replace: bool = False,
    ) -> None:
        found = self.find(sub_issue_id)
        if found is None or found[0].owner.id != repository.owner.id:
            raise Conflict(
                "Validation Failed",
                [{"resource": "Issue", "code": "invalid", "field": "sub_issue_id"}],
            )
        child_repository, child = found
        if child.id == parent.id or child.pull is not None:
            raise Conflict(
                "Validation Failed",
                [
                    {
                        "resource": "Issue",
                        "code": "invalid",
                        "field": "sub_issue_id",
                        "message": "An issue cannot be its own sub-issue, nor a pull request",
                    }
                ],
            )
        if child.parent_id is not None and not replace:
            raise Conflict(
                "Validation Failed",
                [
                    {
                        "resource": "Issue",
                        "code": "custom",
                        "field": "sub_issue_id",
                        "message": "Sub issue may only have one parent",
                    }
                ],
            )
        if len(parent.sub_issue_ids) >= MAX_SUB_ISSUES:
            raise Conflict(
                "Validation Failed",
                [
                    {
                        "resource": "Issue",
                        "code": "custom",
                        "message": f"at most {MAX_SUB_ISSUES} sub-issues",
                    }
                ],
            )
        if child.parent_id is not None:
            old = self.find(child.parent_id)
            if old is not None:
                self.remove_sub_issue(old[0], sender, old[1], child.id)
        parent.sub_issue_ids.append(child.id)
        child.parent_id = parent.id
        self._emit_link("added", repository, parent, child_repository, child, sender)

    def remove_sub_issue(
        self, repository: Repository, sender: User, parent: Issue, sub_issue_id: int
    ) -> Issue:
        found = self.find(sub_issue_id)
        if found is None or found[1].parent_id != parent.id:
            raise LookupError(sub_issue_id)
        child_repository, child = found
        parent.sub_issue_ids.remove(child.id)
        child.parent_id = None
        self._emit_link("removed", repository, parent, child_repository, child, sender)
        return child

    def _emit_link(
        self,
        how: str,
        repository: Repository,
        parent: Issue,
        child_repository: Repository,
        child: Issue,
        sender: User,
    ) -> None:
        r = self.state.render
        both = {
            "parent_issue_id": parent.id,
            "parent_issue": r.issue(repository, parent),
            "sub_issue_id": child.id,
            "sub_issue": r.issue(child_repository, child),
        }
        self.state.announce(
            "sub_issues",
            f"sub_issue_{how}",
            repository,
            sender,
            sub_issue_repo=r.repository(child_repository),
            **both,
        )
        self.state.announce(
            "sub_issues",
            f"parent_issue_{how}",
            child_repository,
            sender,
            parent_issue_repo=r.repository(repository),
            **both,
        )


class IssueLinksRest:
    def __init__(self, links: IssueLinks, rest: RestApi) -> None:
        self.links, self.rest = links, rest

    def routes(self) -> list[Route]:
        r, issue = Route, "/repos/{owner}/{repo}/issues/{issue_number}"
        write = ("repo", "issues", "write", "read")
        return [
            r("GET", "/repos/{owner}/{repo}/assignees", self.list_assignees, "repo", "issues"),
            r(
                "GET",
                "/repos/{owner}/{repo}/assignees/{assignee}",
                self.check_assignee,
                "repo",
                "issues",
            ),
            r("POST", issue + "/assignees", self.add_assignees, *write),
            r("DELETE", issue + "/assignees", self.remove_assignees, *write),
            r("GET", issue + "/sub_issues", self.list_sub_issues, "repo", "issues"),
            r("POST", issue + "/sub_issues", self.add_sub_issue, *write),
            r("DELETE", issue + "/sub_issue", self.remove_sub_issue, *write),
        ]

    @staticmethod
    def _logins(body: Any) -> list[str]:
        items = body.get("assignees", []) if isinstance(body, dict) else []
        return [str(i) for i in items if isinstance(i, str)]

    async def list_assignees(self, call: Call) -> web.Response:
        repository = call.repo()
        users = [repository.owner] + [
            self.links.state.user(login)
            for login, role in repository.roles.items()
            if role != "none"
        ]
        chosen, link = paginate(call.request, users, str(call.request.url.with_query(None)))
        return json_answer([self.links.state.render.user(u) for u in chosen], link=link)

    async def check_assignee(self, call: Call) -> web.Response:
        if not assignable(call.repo(), call.request.match_info["assignee"]):
            raise not_found()
        return web.Response(status=204)

    async def add_assignees(self, call: Call) -> web.Response:
        issue = self.rest.issue_of(call)
        self.links.assign(call.repo(), call.actor, issue, self._logins(call.body))
        return json_answer(self.links.state.render.issue(call.repo(), issue), status=201)

    async def remove_assignees(self, call: Call) -> web.Response:
        issue = self.rest.issue_of(call)
        self.links.unassign(call.repo(), call.actor, issue, self._logins(call.body))
        return json_answer(self.links.state.render.issue(call.repo(), issue))

    async def list_sub_issues(self, call: Call) -> web.Response:
        parent = self.rest.issue_of(call)
        children = [f for i in parent.sub_issue_ids if (f := self.links.find(i)) is not None]
        chosen, link = paginate(call.request, children, str(call.request.url.with_query(None)))
        return json_answer([self.links.state.render.issue(rep, i) for rep, i in chosen], link=link)

    async def add_sub_issue(self, call: Call) -> web.Response:
        parent, body = self.rest.issue_of(call), call.body or {}
        sub_issue_id = body.get("sub_issue_id")
        if not isinstance(sub_issue_id, int):
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": "Issue", "code": "missing_field", "field": "sub_issue_id"}],
            )
        self.links.add_sub_issue(
            call.repo(), call.actor, parent, sub_issue_id, replace=bool(body.get("replace_parent"))
        )
        return json_answer(self.links.state.render.issue(call.repo(), parent), status=201)

    async def remove_sub_issue(self, call: Call) -> web.Response:
        parent, body = self.rest.issue_of(call), call.body or {}
        try:
            self.links.remove_sub_issue(
                call.repo(), call.actor, parent, int(body.get("sub_issue_id", 0))
            )
        except (LookupError, ValueError, TypeError) as exc:
            raise not_found() from exc
        return json_answer(self.links.state.render.issue(call.repo(), parent))
