"""REST routes for check runs and commit statuses (the combined status included)."""

from __future__ import annotations

from aiohttp import web

from githubsim.checks import CheckRefused, CheckRun, Checks
from githubsim.git_store import GitStore
from githubsim.http import Refusal, json_answer, not_found, paginate
from githubsim.model import App
from githubsim.routes import Call, Route


class ChecksRest:
    def __init__(self, checks: Checks, store: GitStore) -> None:
        self.checks, self.store = checks, store

    def routes(self) -> list[Route]:
        r, repo = Route, "/repos/{owner}/{repo}"
        read, write = ("repo", "checks"), ("repo", "checks", "write", "write")
        return [
            r("POST", repo + "/check-runs", self.create, *write),
            r("GET", repo + "/check-runs/{check_run_id}", self.get, *read),
            r("PATCH", repo + "/check-runs/{check_run_id}", self.update, *write),
            r("POST", repo + "/check-runs/{check_run_id}/rerequest", self.rerequest, *write),
            r("GET", repo + "/commits/{ref}/check-runs", self.for_ref, *read),
            r(
                "POST",
                repo + "/statuses/{sha}",
                self.set_status,
                "repo",
                "statuses",
                "write",
                "write",
            ),
            r("GET", repo + "/commits/{ref}/statuses", self.list_statuses, "repo", "statuses"),
            r("GET", repo + "/commits/{ref}/status", self.combined, "repo", "statuses"),
        ]

    def run(self, call: Call) -> CheckRun:
        wanted = call.request.match_info["check_run_id"]
        found = self.checks.runs.get(int(wanted)) if wanted.isdigit() else None
        if found is None or found[0].id != call.repo().id:
            raise not_found()
        return found[1]

    @staticmethod
    def _app(call: Call) -> App:
        if call.caller.app is None:
            raise Refusal(403, "You must authenticate via a GitHub App.")
        return call.caller.app

    async def _sha(self, call: Call, revision: str) -> str:
        sha = await self.store.resolve(call.repo(), revision)
        if sha is None:
            raise Refusal(422, f"No commit found for SHA: {revision}")
        return sha

    async def create(self, call: Call) -> web.Response:
        app, body = self._app(call), dict(call.body or {})
        if not isinstance(body.get("name"), str) or not isinstance(body.get("head_sha"), str):
            raise Refusal(422, "Invalid request: name and head_sha are required")
        body["head_sha"] = await self._sha(call, body["head_sha"])
        try:
            run = await self.checks.create(call.repo(), app, body)
        except CheckRefused as exc:
            raise Refusal(exc.status, str(exc)) from exc
        return json_answer(self.checks.render(call.repo(), run), status=201)

    async def get(self, call: Call) -> web.Response:
        return json_answer(self.checks.render(call.repo(), self.run(call)))

    async def update(self, call: Call) -> web.Response:
        app, run = self._app(call), self.run(call)
        try:
            await self.checks.update(call.repo(), run, app, dict(call.body or {}))
        except CheckRefused as exc:
            raise Refusal(exc.status, str(exc)) from exc
        return json_answer(self.checks.render(call.repo(), run))

    async def rerequest(self, call: Call) -> web.Response:
        self.checks.rerequest(call.repo(), self.run(call), call.actor)
        return json_answer({}, status=201)

    async def for_ref(self, call: Call) -> web.Response:
        sha = await self.store.resolve(call.repo(), call.request.match_info["ref"])
        runs = self.checks.runs_for(call.repo(), sha) if sha else []
        name = call.request.query.get("check_name")
        runs = [r for r in runs if name in (None, r.name)]
        chosen, link = paginate(call.request, runs, str(call.request.url.with_query(None)))
        return json_answer(
            {
                "total_count": len(runs),
                "check_runs": [self.checks.render(call.repo(), r) for r in chosen],
            },
            link=link,
        )

    async def set_status(self, call: Call) -> web.Response:
        sha = await self._sha(call, call.request.match_info["sha"])
        try:
            status = await self.checks.set_status(
                call.repo(), sha, call.actor, dict(call.body or {})
            )
        except CheckRefused as exc:
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": "Status", "code": "custom", "field": "state", "message": str(exc)}],
            ) from exc
        return json_answer(self.checks.render_status(call.repo(), status), status=201)

    async def list_statuses(self, call: Call) -> web.Response:
        sha = await self.store.resolve(call.repo(), call.request.match_info["ref"])
        statuses = self.checks.statuses_for(call.repo(), sha) if sha else []
        chosen, link = paginate(call.request, statuses, str(call.request.url.with_query(None)))
        return json_answer([self.checks.render_status(call.repo(), s) for s in chosen], link=link)

    async def combined(self, call: Call) -> web.Response:
        repository, ref = call.repo(), call.request.match_info["ref"]
        sha = await self.store.resolve(repository, ref)
        if sha is None:
            raise Refusal(404, f"No commit found for SHA: {ref}")
        state, latest = self.checks.combined(repository, sha)
        r = self.checks.state.render
        api = f"{r.api}/repos/{repository.full_name}"
        return json_answer(
            {
                "state": state,
                "statuses": [
                    {
                        k: v
                        for k, v in self.checks.render_status(repository, s).items()
                        if k != "creator"
                    }
                    for s in latest
                ],
                "sha": sha,
                "total_count": len(latest),
                "repository": r.repository(repository),
                "commit_url": f"{api}/commits/{sha}",
                "url": f"{api}/commits/{sha}/status",
            }
        )
