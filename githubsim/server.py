"""The stand-in as a server on 127.0.0.1, plus the API tests use to act as people.

What GitHub does around every REST answer happens in one middleware: faults on demand,
rate-limit headers, ETags and 304s, and the conformance check of the request against
GitHub's description (an invalid request is refused with the schema error, as GitHub
refuses it) and of the answer the stand-in gives.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import hashlib
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from githubsim.auth import Authenticator, AuthError
from githubsim.checks import Checks
from githubsim.checks_rest import ChecksRest
from githubsim.ci import RepositoryCI
from githubsim.conformance import RestDescription, Violation, WebhookDescription
from githubsim.contents_rest import ContentsRest
from githubsim.deliveries import WebhookFaults, WebhookSender
from githubsim.git_http import GitHttp
from githubsim.git_rest import GitRest
from githubsim.git_store import GitStore
from githubsim.graphql_api import GraphQLApi, GraphQLDescription
from githubsim.http import ApiFaults, error
from githubsim.issue_links import IssueLinks, IssueLinksRest
from githubsim.model import GitHubState, Repository, User
from githubsim.people import ActingAsPeople
from githubsim.protection import ProtectionRest
from githubsim.pulls_model import Pulls
from githubsim.pulls_rest import PullsRest
from githubsim.pushes import announce_push
from githubsim.render import Renderer
from githubsim.render_pulls import PullRenderer
from githubsim.reviews import Reviews
from githubsim.reviews_rest import ReviewsRest
from githubsim.routes import RestApi, Route
from githubsim.web_api import PeopleHttp
from githubsim.web_view import WebView

SIM_PREFIX = "/_sim"
GIT_ROUTE = "git-smart-http"
GRAPHQL_ROUTE = "graphql"
RAW_MEDIA = ("application/vnd.github.raw", "application/vnd.github.v3.raw")


class GitHubSim(ActingAsPeople):
    """A local GitHub: REST on 127.0.0.1, webhooks to the App, checked against GitHub's own
    descriptions when they are given."""

    def __init__(
        self,
        *,
        rest: RestDescription | None = None,
        webhooks: WebhookDescription | None = None,
        token_lifetime: datetime.timedelta = datetime.timedelta(hours=1),
        rate_limit: int = 5000,
        content_per_minute: int = 80,
        faults: ApiFaults | None = None,
        webhook_faults: WebhookFaults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        git_root: Path | None = None,
        graphql: GraphQLDescription | None = None,
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
        self.content_per_minute = content_per_minute  # GitHub's secondary limit on writes
        self._writes: dict[str, collections.deque[float]] = {}
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
        self.pulls.protection_of = lambda repository, branch: self.git_http.protections.get(
            (repository.id, branch)
        )
        self.reviews = Reviews(self.state, self.pulls)
        self.checks = Checks(self.state, self.pulls, self.git)
        self.links = IssueLinks(self.state)
        self.graphql = GraphQLApi(
            self.state,
            self.auth,
            graphql,
            lambda why: self.violations.append(Violation("request", "POST /graphql", why)),
        )
        self.graphql.pulls = self.pulls
        self.pulls.checks_missing = self.checks.missing
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
        # …/branches/{branch}/protection before …/branches/{branch:.+}: literal tails first
        self.rest.extra.extend(ProtectionRest(self.state, self.git_http.protections).routes())
        self.rest.extra.extend(self.git_rest.routes())
        self.rest.extra.extend(ContentsRest(self.git_rest).routes())
        pulls_rest = PullsRest(self.pulls, self.git_rest, self.pulls.render)
        self.rest.extra.extend(ReviewsRest(self.reviews, pulls_rest).routes())
        self.rest.extra.extend(pulls_rest.routes())
        self.rest.extra.extend(ChecksRest(self.checks, self.git).routes())
        self.rest.extra.extend(IssueLinksRest(self.links, self.rest).routes())
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
        app.router.add_post("/graphql", self.graphql.handle, name=GRAPHQL_ROUTE)
        people = PeopleHttp(self)
        people.add_routes(app)
        self.web_view = WebView(self, people)
        self.web_view.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        await self.webhooks.start()
        return self.url

    async def stop(self) -> None:
        await self.ci.close()
        await self.webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.to_thread(self.git.close)  # removing the temporary git root

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

    async def _pushed(
        self, repository: Repository, pusher: User, before: dict[str, str], after: dict[str, str]
    ) -> None:
        await announce_push(self.state, self.git, repository, pusher, before, after)
        moved = await self.pulls.pushed(repository, pusher, before, after)
        self.ci.follow(repository, moved)

    async def _merge_move(
        self, repository: Repository, actor: User, ref: str, new: str, expected: str
    ) -> None:
        await self.git_rest.move(repository, actor, ref, new, expected=expected, merging=True)

    # Around every REST call ---------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(SIM_PREFIX):
            return await handler(request)
        if request.match_info.route.name in (GIT_ROUTE, GRAPHQL_ROUTE):  # not REST: faults only
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
        elif self._throttled(request, key):
            response = error(
                403,
                "You have exceeded a secondary rate limit and have been temporarily blocked "
                "from content creation. Please retry your request again later.",
                headers={"Retry-After": "60"},
            )
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

    def _throttled(self, request: web.Request, key: str) -> bool:
        """GitHub's secondary limit: about 80 content-creating requests a minute per caller."""
        if request.method == "GET" or request.path.startswith("/app/") or key == "anonymous":
            return False
        now = time.monotonic()
        recent = self._writes.setdefault(key, collections.deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self.content_per_minute:
            return True
        recent.append(now)
        return False

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

    def route_table(self) -> list[Route]:
        assert self.rest is not None
        return self.rest.routes()


def _matches(template: str, path: str) -> bool:
    parts, actual = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(actual) and all(
        p == a or (p.startswith("{") and p.endswith("}"))
        for p, a in zip(parts, actual, strict=True)
    )
