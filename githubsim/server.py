"""The stand-in as a server on 127.0.0.1, plus the API tests use to act as people.

What GitHub does around every REST answer happens in one middleware: faults on demand,
rate-limit headers, ETags and 304s, and the conformance check of the request against
GitHub's description (an invalid request is refused with the schema error, as GitHub
refuses it) and of the answer the stand-in gives.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import html
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from githubsim.auth import Authenticator, AuthError
from githubsim.checks import CheckRun, Checks
from githubsim.checks_rest import ChecksRest
from githubsim.ci import RepositoryCI
from githubsim.conformance import RestDescription, Violation, WebhookDescription
from githubsim.deliveries import WebhookFaults, WebhookSender
from githubsim.git_http import GitHttp, Protection
from githubsim.git_rest import GitRest
from githubsim.git_store import GitStore
from githubsim.http import ApiFaults, error
from githubsim.model import App, Comment, GitHubState, Installation, Issue, Repository, User
from githubsim.people_git import push_files
from githubsim.pulls_model import PullRequest, Pulls
from githubsim.pulls_rest import PullsRest
from githubsim.pushes import announce_push
from githubsim.render import Renderer
from githubsim.render_pulls import PullRenderer
from githubsim.reviews import Review, ReviewComment, Reviews
from githubsim.reviews_rest import ReviewsRest
from githubsim.routes import RestApi, Route

SIM_PREFIX = "/_sim"
GIT_ROUTE = "git-smart-http"
RAW_MEDIA = ("application/vnd.github.raw", "application/vnd.github.v3.raw")


def manifest_permissions(manifest: Path) -> tuple[dict[str, str], list[str]]:
    """The permissions and events an App manifest (our `app.yml`) asks for."""
    data = yaml.safe_load(manifest.read_text())
    return dict(data.get("default_permissions") or {}), list(data.get("default_events") or [])


def public_key_of(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class GitHubSim:
    """A local GitHub: REST on 127.0.0.1, webhooks to the App, checked against GitHub's own
    descriptions when they are given."""

    def __init__(
        self,
        *,
        rest: RestDescription | None = None,
        webhooks: WebhookDescription | None = None,
        token_lifetime: datetime.timedelta = datetime.timedelta(hours=1),
        rate_limit: int = 5000,
        faults: ApiFaults | None = None,
        webhook_faults: WebhookFaults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        git_root: Path | None = None,
    ) -> None:
        self.state = GitHubState()
        self.git = GitStore(git_root)  # each repository's bare git repository
        self.auth = Authenticator(self.state, token_lifetime=token_lifetime)
        self.rest_description = rest
        self.violations: list[Violation] = []
        self.calls: list[tuple[str, str, int]] = []  # (method, path, status) the API answered
        self.faults = faults or ApiFaults()
        self._rng = random.Random(self.faults.seed)  # noqa: S311 - faults, not secrets
        self.rate_limit = rate_limit
        self._used: dict[str, tuple[int, int]] = {}  # rate key -> (window reset, used)
        self.webhooks = WebhookSender(
            self.state,
            check=webhooks.check if webhooks is not None else None,
            on_violation=lambda what, why: self.violations.append(Violation("webhook", what, why)),
            faults=webhook_faults,
        )
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.rest: RestApi | None = None
        self.git_http = GitHttp(self.state, self.auth, self.git, self._pushed)
        self.git_rest = GitRest(self.state, self.git, self.git_http, self._pushed)
        self.pulls = Pulls(self.state, self.git, self._merge_move)
        self.pulls.render = PullRenderer(self.state)
        self.reviews = Reviews(self.state, self.pulls)
        self.checks = Checks(self.state, self.pulls)
        self.ci = RepositoryCI(self.state, self.git, self.checks)
        self.pulls.on_open.append(lambda repository, pull: self.ci.follow(repository, [pull]))

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> str:
        """Start serving; returns the base URL to give the bot as GITHUB_API_URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        self.state.render = Renderer(self.url)
        self.rest = RestApi(self.state, self.auth, self.state.render)
        self.rest.extra.extend(self.git_rest.routes())
        pulls_rest = PullsRest(self.pulls, self.git_rest, self.pulls.render)
        self.rest.extra.extend(ReviewsRest(self.reviews, pulls_rest).routes())
        self.rest.extra.extend(pulls_rest.routes())
        self.rest.extra.extend(ChecksRest(self.checks, self.git).routes())
        app = web.Application(middlewares=[self._middleware], client_max_size=30 * 2**20)
        for route in self.rest.routes():
            app.router.add_route(route.method, route.path, self.rest.wrap(route))
            if route.path.startswith("/repos/{owner}/{repo}"):
                alias = "/repositories/{repository_id}" + route.path[len("/repos/{owner}/{repo}") :]
                app.router.add_route(route.method, alias, self._by_id(self.rest.wrap(route)))
        app.router.add_route(
            "*",
            "/{owner}/{repo}/{tail:info/refs|git-upload-pack|git-receive-pack}",
            self.git_http.handle,
            name=GIT_ROUTE,
        )
        app.router.add_get(SIM_PREFIX + "/", self._web_index)
        app.router.add_get(SIM_PREFIX + "/{owner}/{repo}/issues/{number}", self._web_issue)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        await self.webhooks.start()
        return self.url

    async def stop(self) -> None:
        await self.webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self.git.close()

    async def __aenter__(self) -> GitHubSim:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def _by_id(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        """`/repositories/{id}/…` (the form GitHub's Link headers use) reaches the same route."""

        async def handle(request: web.Request) -> web.StreamResponse:
            repository = self.state.repository_by_id(int(request.match_info["repository_id"]))
            if repository is None:
                return error(404, "Not Found")
            request.match_info["owner"] = repository.owner.login
            request.match_info["repo"] = repository.name
            return await handler(request)

        return handle

    def _described_path(self, request: web.Request) -> str:
        path = request.path
        if path.startswith("/repositories/"):
            _, _, rest = path.partition("/repositories/")
            repository_id, _, tail = rest.partition("/")
            if repository_id.isdigit() and (r := self.state.repository_by_id(int(repository_id))):
                return f"/repos/{r.full_name}/{tail}".rstrip("/")
        values = request.match_info
        resource = values.route.resource
        if resource is not None and any("/" in v for v in values.values()):
            # a ref or a path with slashes: one parameter, as GitHub's description has it
            return resource.canonical.format_map(
                {k: v.replace("/", "%2F") for k, v in values.items()}
            )
        return path

    # Around every REST call ---------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(SIM_PREFIX):
            return await handler(request)
        if request.match_info.route.name == GIT_ROUTE:  # git, not REST: only faults apply
            status = self.faults.take(request.method, request.path)
            if status is not None:
                return web.Response(status=status, text="The remote end hung up.\n")
            return await handler(request)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        fault = self._fault(request)
        if fault is not None:
            self.calls.append((request.method, request.path, fault.status))
            return fault
        key = self._rate_key(request)
        body = await request.read()
        path = self._described_path(request)
        query = list(request.query.items())
        problem = self._check_request(request, path, query, body)
        exhausted = self._window(key)[1] >= self.rate_limit and key != "anonymous"
        if problem is not None:
            response: web.StreamResponse = problem
        elif exhausted and not request.headers.get("If-None-Match"):
            response = error(403, f"API rate limit exceeded for {key.replace(':', ' ID ')}.")
        else:
            response = await handler(request)
        response = self._conditional(request, response)
        if response.status != 304 and not exhausted:
            self._count(key)
        self._rate_headers(key, response)
        response.headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:20].upper()
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        self.calls.append((request.method, path, response.status))
        if problem is None:
            self._check_response(request, path, query, body, response)
        return response

    def _fault(self, request: web.Request) -> web.Response | None:
        status = self.faults.take(request.method, request.path)
        if status is None and self.faults.script:
            status = self.faults.script.popleft()
        if status is None and self._rng.random() < self.faults.secondary_limit_rate:
            status = 403
        if status is None and self._rng.random() < self.faults.error_rate:
            status = self._rng.choice(self.faults.error_statuses)
        if status is None:
            return None
        if status in (403, 429):
            return error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few "
                "minutes before you try again.",
                headers={"Retry-After": str(self.faults.retry_after)},
            )
        return web.Response(
            status=status, text="<html><body>Server Error</body></html>", content_type="text/html"
        )

    def _rate_key(self, request: web.Request) -> str:
        try:
            return self.auth.identify(request.headers.get("Authorization")).rate_key
        except AuthError:
            return "anonymous"

    def _window(self, key: str) -> tuple[int, int]:
        now = int(time.time())
        reset, used = self._used.get(key, (now + 3600, 0))
        if reset <= now:
            reset, used = now + 3600, 0
        return reset, used

    def _count(self, key: str) -> None:
        reset, used = self._window(key)
        self._used[key] = (reset, used + 1)

    def _rate_headers(self, key: str, response: web.StreamResponse) -> None:
        reset, used = self._window(key)
        response.headers.update(
            {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
                "X-RateLimit-Used": str(used),
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Resource": "core",
            }
        )

    @staticmethod
    def _conditional(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        if (
            request.method != "GET"
            or response.status != 200
            or not isinstance(response, web.Response)
        ):
            return response
        etag = 'W/"' + hashlib.sha256(response.body or b"").hexdigest()[:32] + '"'  # type: ignore[arg-type]
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            response = web.Response(status=304)
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
        return response

    def _check_request(
        self, request: web.Request, path: str, query: list[tuple[str, str]], body: bytes
    ) -> web.Response | None:
        """Refuse what GitHub's description does not allow, as GitHub would (422)."""
        if self.rest_description is None:
            return None
        problem = self.rest_description.check_request(
            request.method,
            path,
            query,
            dict(request.headers),
            body,
            request.headers.get("Content-Type", ""),
        )
        if problem is None:
            return None
        what = f"{request.method} {path}"
        self.violations.append(Violation("request", what, problem))
        if problem.startswith(("Path not found", "Operation ")):  # GitHub has no such route
            return error(404, "Not Found")
        return error(422, f"Invalid request.\n\n{problem}")

    def _check_response(
        self,
        request: web.Request,
        path: str,
        query: list[tuple[str, str]],
        body: bytes,
        response: web.StreamResponse,
    ) -> None:
        """2xx answers always; an error only where the operation documents that status."""
        if self.rest_description is None or not isinstance(response, web.Response):
            return
        if response.content_type.startswith(RAW_MEDIA):
            return  # a raw file (GitHub's raw media type): the description has no schema for it
        if response.status == 304 or (
            response.status >= 300 and not self._documents(request.method, path, response.status)
        ):
            return
        problem = self.rest_description.check_response(
            request.method,
            path,
            query,
            body,
            response.status,
            response.body or b"",  # type: ignore[arg-type]
            response.content_type if response.body else "",
        )
        if problem is not None:
            self.violations.append(
                Violation("response", f"{request.method} {path} {response.status}", problem)
            )

    def _documents(self, method: str, path: str, status: int) -> bool:
        """Whether GitHub's description lists `status` for the operation serving `path`."""
        assert self.rest_description is not None
        paths = self.rest_description.document["paths"]
        candidates = [t for t, ops in paths.items() if _matches(t, path) and method.lower() in ops]
        if not candidates:
            return False
        template = min(candidates, key=lambda t: t.count("{"))  # literal segments win
        return str(status) in paths[template][method.lower()].get("responses", {})

    # Acting as people ---------------------------------------------------------------------

    def register_app(
        self,
        *,
        app_id: int,
        private_key: str,
        webhook_url: str | None,
        webhook_secret: str,
        manifest: Path,
        slug: str = "agent-orchestrator",
        owner: str = "orchestrator-dev",
    ) -> App:
        """The App as registered from its manifest: its permissions and events are those."""
        permissions, events = manifest_permissions(manifest)
        name = yaml.safe_load(manifest.read_text()).get("name", slug)
        return self.state.register_app(
            app_id=app_id,
            slug=slug,
            name=name,
            owner=owner,
            public_key=public_key_of(private_key),
            permissions=permissions,
            events=events,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

    def create_repository(
        self, full_name: str, *, private: bool = False, description: str | None = None
    ) -> Repository:
        return self.state.create_repository(full_name, private=private, description=description)

    def grant(self, repository: Repository, login: str, role: str) -> None:
        """Make `login` a collaborator with this role (read, triage, write, maintain, admin)."""
        self.state.set_role(repository, login, role)

    def install(
        self, app: App, repositories: list[Repository], *, by: str, account: str | None = None
    ) -> Installation:
        account = account or repositories[0].owner.login
        return self.state.install(app, account, repositories, sender=self.state.user(by))

    def uninstall(self, installation: Installation, *, by: str) -> None:
        self.state.uninstall(installation, sender=self.state.user(by))

    def suspend(self, installation: Installation, *, by: str) -> None:
        """An owner suspends the App: no webhooks, no tokens, until it is unsuspended."""
        self.state.suspend(installation, sender=self.state.user(by))

    def open_issue(
        self,
        repository: Repository,
        *,
        by: str,
        title: str,
        body: str | None = None,
        labels: tuple[str, ...] = (),
    ) -> Issue:
        return self.state.create_issue(repository, self.state.user(by), title, body, list(labels))

    def comment(self, repository: Repository, number: int, *, by: str, body: str) -> Comment:
        return self.state.create_comment(
            repository, self.state.user(by), repository.issues[number], body
        )

    def add_label(self, repository: Repository, number: int, *, by: str, name: str) -> None:
        self.state.add_labels(repository, self.state.user(by), repository.issues[number], [name])

    def remove_label(self, repository: Repository, number: int, *, by: str, name: str) -> None:
        label = repository.label_named(name)
        if label is not None:
            self.state.remove_label(
                repository, self.state.user(by), repository.issues[number], label
            )

    async def push(
        self,
        repository: Repository,
        *,
        by: str,
        files: dict[str, str | bytes | None],
        branch: str | None = None,
        from_branch: str | None = None,
        message: str = "Update files",
        force: bool = False,
    ) -> str:
        """`by` commits `files` (None deletes a path) and pushes with their own token, over
        HTTP as `git push` does; the new commit's sha. Refused pushes raise PushRefused."""
        return await push_files(
            self.git,
            self.url,
            repository,
            self.state.user(by),
            self.user_token(by),
            files=files,
            branch=branch or repository.default_branch,
            from_branch=from_branch,
            message=message,
            force=force,
        )

    def protect_branch(
        self, repository: Repository, branch: str, *, enforce_admins: bool = True
    ) -> Protection:
        """Protect `branch`: no direct pushes, changes go through a reviewed pull request."""
        rule = Protection(branch, enforce_admins=enforce_admins)
        self.git_http.protections[(repository.id, branch)] = rule
        return rule

    def revoke(self, token: str) -> None:
        """Revoke a token, as `DELETE /installation/token` or a person revoking a PAT does."""
        self.auth.tokens.pop(token, None)

    async def _pushed(
        self, repository: Repository, pusher: User, before: dict[str, str], after: dict[str, str]
    ) -> None:
        await announce_push(self.state, self.git, repository, pusher, before, after)
        moved = await self.pulls.pushed(repository, pusher, before, after)
        self.ci.follow(repository, moved)

    def set_ci(self, repository: Repository, command: str | None) -> None:
        """Give the repository its own CI: `command` (a shell line) runs in a checkout of each
        pull request's head, reported as check run `ci` and a commit status. None removes it."""
        self.ci.set_command(repository, command)

    async def _merge_move(
        self, repository: Repository, actor: User, ref: str, new: str, expected: str
    ) -> None:
        await self.git_rest.move(repository, actor, ref, new, expected=expected, merging=True)

    async def open_pull_request(
        self,
        repository: Repository,
        *,
        by: str,
        head: str,
        base: str | None = None,
        title: str = "A change",
        body: str | None = None,
        draft: bool = False,
    ) -> PullRequest:
        """`by` opens a pull request from `head` into `base` (the default branch)."""
        return await self.pulls.open(
            repository,
            self.state.user(by),
            title=title,
            head=head,
            base=base or repository.default_branch,
            body=body,
            draft=draft,
        )

    async def merge(
        self, repository: Repository, number: int, *, by: str, method: str = "merge"
    ) -> str:
        """`by` merges pull request `number` (merge, squash or rebase); the new base sha."""
        pull = self.pulls.get(repository, number)
        assert pull is not None, f"no pull request #{number}"
        return await self.pulls.merge(repository, pull, self.state.user(by), method=method)

    def _pull(self, repository: Repository, number: int) -> PullRequest:
        pull = self.pulls.get(repository, number)
        assert pull is not None, f"no pull request #{number}"
        return pull

    async def review(
        self,
        repository: Repository,
        number: int,
        *,
        by: str,
        event: str,
        body: str = "",
        comments: list[dict[str, Any]] | None = None,
    ) -> Review:
        """`by` reviews pull request `number`: APPROVE, REQUEST_CHANGES or COMMENT, with
        inline comments ({"path", "line", "side", "body"}) on lines of its diff."""
        return await self.reviews.submit(
            repository,
            self._pull(repository, number),
            self.state.user(by),
            event=event,
            body=body,
            comments=comments,
        )

    def reply(
        self, repository: Repository, number: int, comment_id: int, *, by: str, body: str
    ) -> ReviewComment:
        """`by` answers a review comment in its thread."""
        pull = self._pull(repository, number)
        return self.reviews.reply(repository, pull, self.state.user(by), comment_id, body)

    def resolve_thread(
        self, repository: Repository, number: int, comment_id: int, *, by: str
    ) -> None:
        """`by` marks the thread of a review comment resolved."""
        pull = self._pull(repository, number)
        self.reviews.resolve(repository, pull, comment_id, self.state.user(by))

    def press_button(
        self, repository: Repository, check_run: CheckRun | int, identifier: str, *, by: str
    ) -> None:
        """`by` presses a check run's button: `check_run` `requested_action` to its App.
        Raises CheckRefused if the run is not completed, has no such button, or `by` lacks
        write access."""
        run_id = check_run if isinstance(check_run, int) else check_run.id
        _, run = self.checks.runs[run_id]
        self.checks.press(repository, run, identifier, self.state.user(by))

    def rerequest(self, repository: Repository, check_run: CheckRun | int, *, by: str) -> None:
        """`by` asks for a check run again ("Re-run"): `rerequested` to its App."""
        run_id = check_run if isinstance(check_run, int) else check_run.id
        _, run = self.checks.runs[run_id]
        self.checks.rerequest(repository, run, self.state.user(by))

    def ready_for_review(self, repository: Repository, number: int, *, by: str) -> None:
        pull = self.pulls.get(repository, number)
        assert pull is not None, f"no pull request #{number}"
        self.pulls.ready_for_review(repository, pull, self.state.user(by))

    def user_token(self, login: str) -> str:
        """A personal access token for `login`, to call the REST API as that person."""
        return self.auth.user_token(login)

    def comments_on(self, repository: Repository, number: int) -> list[Comment]:
        return [repository.comments[c] for c in repository.issues[number].comment_ids]

    async def settle(self) -> None:
        """Wait until every CI run so far has finished and every webhook so far has been
        answered by the App."""
        await self.ci.settle()
        await self.webhooks.settle()

    def route_table(self) -> list[Route]:
        assert self.rest is not None
        return self.rest.routes()

    # A page to look at ------------------------------------------------------------------

    async def _web_index(self, request: web.Request) -> web.Response:
        rows = []
        for repository in self.state.repositories.values():
            rows.append(f"<h2>{html.escape(repository.full_name)}</h2><ul>")
            for issue in repository.issues.values():
                href = f"{SIM_PREFIX}/{repository.full_name}/issues/{issue.number}"
                rows.append(
                    f'<li><a href="{html.escape(href)}">#{issue.number} '
                    f"{html.escape(issue.title)}</a> ({issue.state})</li>"
                )
            rows.append("</ul>")
        return web.Response(text=_page("Local GitHub", "".join(rows)), content_type="text/html")

    async def _web_issue(self, request: web.Request) -> web.Response:
        repository = self.state.repository(request.match_info["owner"], request.match_info["repo"])
        issue = repository.issues.get(int(request.match_info["number"])) if repository else None
        if repository is None or issue is None:
            raise web.HTTPNotFound()
        labels = ", ".join(html.escape(repository.labels[i].name) for i in issue.labels)
        parts = [
            f"<p>{issue.state} · opened by {html.escape(issue.user.login)} · labels: "
            f"{labels or 'none'}</p><pre>{html.escape(issue.body or '')}</pre>"
        ]
        for comment in self.comments_on(repository, issue.number):
            reactions = " ".join(r.content for r in comment.reactions)
            parts.append(
                f"<hr><p><b>{html.escape(comment.user.login)}</b> {reactions}</p>"
                f"<pre>{html.escape(comment.body)}</pre>"
            )
        title = f"{repository.full_name}#{issue.number}: {issue.title}"
        return web.Response(text=_page(title, "".join(parts)), content_type="text/html")


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{body}"
    )


def _matches(template: str, path: str) -> bool:
    parts, actual = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(actual) and all(
        p == a or (p.startswith("{") and p.endswith("}"))
        for p, a in zip(parts, actual, strict=True)
    )
