"""REST routes for pull requests: open, list, get, edit, commits, files, merge, update-branch."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from githubsim import git_objects as objects
from githubsim.git_rest import GitRest
from githubsim.http import Refusal, json_answer, not_found, paginate
from githubsim.model import MAX_BODY, ROLES
from githubsim.pulls_model import MERGE_METHODS, NotMergeable, PullRequest, Pulls
from githubsim.render_pulls import PullRenderer
from githubsim.routes import Call, Route


def _text(value: Any, field: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Refusal(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "code": "missing_field", "field": field}],
        )
    if len(value) > MAX_BODY:
        raise Refusal(
            422,
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "field": field,
                    "message": f"{field} is too long (maximum is {MAX_BODY} characters)",
                }
            ],
        )
    return value


class PullsRest:
    def __init__(self, pulls: Pulls, git_rest: GitRest, show: PullRenderer) -> None:
        self.pulls, self.git_rest, self.show = pulls, git_rest, show
        self.store = pulls.store
        self._computing: set[asyncio.Task[bool]] = set()

    def routes(self) -> list[Route]:
        r, pulls = Route, "/repos/{owner}/{repo}/pulls"
        read = ("repo", "pull_requests")
        write = ("repo", "pull_requests", "write", "write")
        return [
            r("GET", pulls, self.list_pulls, *read),
            r("POST", pulls, self.create_pull, "repo", "pull_requests", "write", "read"),
            r("GET", pulls + "/{pull_number}", self.get_pull, *read),
            r(
                "PATCH",
                pulls + "/{pull_number}",
                self.update_pull,
                "repo",
                "pull_requests",
                "write",
                "read",
            ),
            r("GET", pulls + "/{pull_number}/commits", self.list_commits, *read),
            r("GET", pulls + "/{pull_number}/files", self.list_files, *read),
            r("GET", pulls + "/{pull_number}/merge", self.check_merged, *read),
            r(
                "PUT",
                pulls + "/{pull_number}/merge",
                self.merge,
                "repo",
                "contents",
                "write",
                "write",
            ),
            r("PUT", pulls + "/{pull_number}/update-branch", self.update_branch, *write),
        ]

    def pull(self, call: Call) -> PullRequest:
        try:
            number = int(call.request.match_info["pull_number"])
        except ValueError as exc:
            raise not_found() from exc
        found = self.pulls.get(call.repo(), number)
        if found is None:
            raise not_found()
        return found

    def answer(self, call: Call, pull: PullRequest, status: int = 200) -> web.Response:
        return json_answer(
            self.show.pull(
                call.repo(), pull, blocked=self.pulls.blocked(call.repo(), pull) is not None
            ),
            status=status,
        )

    async def list_pulls(self, call: Call) -> web.Response:
        repository, query = call.repo(), call.request.query
        state = query.get("state", "open")
        head = query.get("head")
        found = [
            p
            for p in self.pulls.of(repository)
            if (state == "all" or p.state == state)
            and ("base" not in query or p.base_ref == query["base"])
            and (
                head is None
                or f"{repository.owner.login}:{p.head_ref}".lower() == head.lower()
                or (":" not in head and p.head_ref == head)
            )
        ]
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc" if sort == "created" else "asc")
        found.sort(
            key=lambda p: (
                p.issue.created_at if sort == "created" else p.issue.updated_at,
                p.number,
            ),
            reverse=direction == "desc",
        )
        chosen, link = paginate(
            call.request, found, f"{self.show.r.api}/repositories/{repository.id}/pulls"
        )
        return json_answer([self.show.simple(repository, p) for p in chosen], link=link)

    async def create_pull(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        title = _text(body.get("title"), "title", required=True)
        text = _text(body.get("body"), "body")
        head, base = body.get("head"), body.get("base")
        if not isinstance(head, str) or not isinstance(base, str):
            raise Refusal(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "missing_field",
                        "field": "head" if not isinstance(head, str) else "base",
                    }
                ],
            )
        assert title is not None
        pull = await self.pulls.open(
            call.repo(),
            call.actor,
            title=title,
            head=head,
            base=base,
            body=text,
            draft=bool(body.get("draft")),
            via_app=call.caller.app,
        )
        pull.maintainer_can_modify = bool(body.get("maintainer_can_modify", False))
        return self.answer(call, pull, 201)

    async def get_pull(self, call: Call) -> web.Response:
        pull = self.pull(call)
        if pull.mergeable is None and pull.state == "open":
            # GitHub answers null and computes mergeability in the background
            task = asyncio.create_task(self.pulls.compute_mergeable(call.repo(), pull))
            self._computing.add(task)
            task.add_done_callback(self._computing.discard)
        return self.answer(call, pull)

    async def update_pull(self, call: Call) -> web.Response:
        repository, pull, body = call.repo(), self.pull(call), dict(call.body or {})
        actor = call.actor
        if (
            call.caller.kind == "user"
            and pull.issue.user.id != actor.id
            and ROLES.index(repository.role_of(actor.login)) < ROLES.index("write")
        ):
            raise Refusal(403, "Must have push access to repository")
        if "title" in body:
            _text(body["title"], "title", required=True)
        if "body" in body:
            _text(body["body"], "body")
        base = body.pop("base", None)
        if isinstance(base, str) and base != pull.base_ref:
            sha = await self.store.resolve(repository, f"refs/heads/{base}")
            if sha is None:
                raise Refusal(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "code": "invalid", "field": "base"}],
                )
            pull.base_sha = sha
            self.pulls.change_base(repository, pull, base, actor)
            await self.pulls.refresh_stats(repository, pull)
        if body.get("state") == "open" and pull.merged_at is not None:
            raise Refusal(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "field": "state",
                        "message": "state cannot be changed. The pull request has been merged.",
                    }
                ],
            )
        reopening = body.get("state") == "open" and pull.issue.state == "closed"
        if (
            reopening
            and await self.store.resolve(repository, f"refs/heads/{pull.head_ref}") is None
        ):
            raise Refusal(  # as GitHub: a branch someone deleted is restored before reopening
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "field": "state",
                        "message": f"state cannot be changed. The {pull.head_ref} branch has "
                        "been deleted.",
                    }
                ],
            )
        fields = {k: v for k, v in body.items() if k in ("title", "body", "state")}
        self.pulls.state.update_issue(repository, actor, pull.issue, fields)
        return self.answer(call, pull)

    async def list_commits(self, call: Call) -> web.Response:
        repository, pull = call.repo(), self.pull(call)
        shas = await objects.log(
            self.store, repository, ["--reverse", pull.head_sha, "--not", pull.base_sha]
        )
        chosen, link = paginate(call.request, shas, str(call.request.url.with_query(None)))
        infos = await objects.commits(self.store, repository, chosen)
        return json_answer([self.git_rest.show.commit(repository, i) for i in infos], link=link)

    async def list_files(self, call: Call) -> web.Response:
        repository, pull = call.repo(), self.pull(call)
        base = await self.pulls.merge_base(repository, pull)
        files = await objects.changes(self.store, repository, base, pull.head_sha)
        chosen, link = paginate(call.request, files, str(call.request.url.with_query(None)))
        return json_answer(
            [self.git_rest.show.file_change(repository, pull.head_sha, f) for f in chosen],
            link=link,
        )

    async def check_merged(self, call: Call) -> web.Response:
        if self.pull(call).merged_at is None:
            raise not_found()
        return web.Response(status=204)

    async def merge(self, call: Call) -> web.Response:
        repository, pull, body = call.repo(), self.pull(call), call.body or {}
        method = body.get("merge_method", "merge")
        if method not in MERGE_METHODS:
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "invalid", "field": "merge_method"}],
            )
        try:
            sha = await self.pulls.merge(
                repository,
                pull,
                call.actor,
                method=method,
                sha=body.get("sha"),
                title=body.get("commit_title"),
                message=body.get("commit_message"),
            )
        except NotMergeable as exc:
            raise Refusal(exc.status, str(exc)) from exc
        return json_answer(
            {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        )

    async def update_branch(self, call: Call) -> web.Response:
        repository, pull, body = call.repo(), self.pull(call), call.body or {}
        expected = body.get("expected_head_sha")
        if expected is not None and expected != pull.head_sha:
            raise Refusal(422, "expected head sha didn't match current head ref.")
        try:
            await self.pulls.update_branch(repository, pull, call.actor)
        except NotMergeable as exc:
            raise Refusal(422, str(exc)) from exc
        return json_answer(
            {
                "message": "Updating pull request branch.",
                "url": f"{self.show.r.web}/{repository.full_name}/pull/{pull.number}",
            },
            status=202,
        )
