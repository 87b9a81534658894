"""Git over smart HTTP at `{server}/{owner}/{repo}.git`, served by `git http-backend` (CGI).

Authentication is GitHub's: HTTP basic with a token as the password (`x-access-token` and an
installation token, or a person's own token). Reading needs `contents: read` (or, for a person,
read access; public repositories are readable anonymously), pushing needs `contents: write` (or
write access). Protected branches are refused by the repository's pre-receive hook with
GitHub's `GH006` message. After a push, the refs it changed are announced (`push`, `create`,
`delete`) and open pull requests follow their branches.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from githubsim.auth import Authenticator, AuthError, Caller, allows
from githubsim.git_store import ZERO, GitStore, base_env, run_process
from githubsim.model import ROLES, GitHubState, Repository, User
from githubsim.protection import Protection

SERVICES = ("git-upload-pack", "git-receive-pack")
CHALLENGE = {"WWW-Authenticate": 'Basic realm="GitHub"'}

#: Called after a push with (repository, pusher, refs before, refs after).
OnPush = Callable[[Repository, User, dict[str, str], dict[str, str]], Awaitable[None]]


@dataclasses.dataclass
class GitFaults:
    """Failures git sees on demand: the next pushes refused (with a message)."""

    refuse_pushes: list[str] = dataclasses.field(default_factory=list)

    def refuse_next_push(self, message: str = "The push was refused, try again later.") -> None:
        self.refuse_pushes.append(message)


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


class GitHttp:
    """The handler for every `/{owner}/{repo}.git/...` request."""

    def __init__(
        self, state: GitHubState, auth: Authenticator, store: GitStore, on_push: OnPush
    ) -> None:
        self.state, self.auth, self.store, self.on_push = state, auth, store, on_push
        self.protections: dict[tuple[int, str], Protection] = {}
        self.faults = GitFaults()

    def caller(self, request: web.Request) -> Caller:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if not header:
            return Caller("anonymous")
        if scheme.lower() != "basic":
            raise AuthError("Bad credentials")
        try:
            _user, _, password = base64.b64decode(credential).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthError("Bad credentials") from exc
        return self.auth.identify(f"token {password}")

    def may(self, caller: Caller, repository: Repository, write: bool) -> bool | None:
        """True if allowed, False if refused (403), None if credentials are wanted (401)."""
        if caller.kind == "installation":
            assert caller.installation is not None
            if repository.id not in caller.installation.repository_ids:
                return None
            granted = caller.installation.app.permissions.get("contents")
            return allows(granted, "write" if write else "read")
        if caller.kind == "user":
            assert caller.user is not None
            role = repository.role_of(caller.user.login)
            if role == "none" and repository.private:
                return None
            return ROLES.index(role) >= ROLES.index("write" if write else "read")
        if caller.kind == "anonymous" and not write and not repository.private:
            return True
        return None

    def protected_refs(
        self, repository: Repository, pusher: User, *, rewrites: bool = False
    ) -> list[str]:
        """Refs `pusher` may not push to directly (a pull request is required), or, with
        `rewrites`, may not force-push or delete."""
        refs = []
        for (repository_id, branch), rule in self.protections.items():
            if repository_id != repository.id:
                continue
            if not rule.enforce_admins and repository.role_of(pusher.login) == "admin":
                continue
            if (rewrites and not (rule.allow_force_pushes and rule.allow_deletions)) or (
                not rewrites and rule.requires_pull_request
            ):
                refs.append(f"refs/heads/{branch}")
        return refs

    async def handle(self, request: web.Request) -> web.StreamResponse:
        owner, name = request.match_info["owner"], request.match_info["repo"]
        tail = request.match_info["tail"]
        service = request.query.get("service") if tail == "info/refs" else tail
        if service not in SERVICES or (tail == "info/refs") != (request.method == "GET"):
            return _plain(403, "Only the smart HTTP protocol is served.")
        repository = self.state.repository(owner, name.removesuffix(".git"))
        try:
            caller = self.caller(request)
        except AuthError:
            return _plain(401, "Invalid username or token.", CHALLENGE)
        write = service == "git-receive-pack"
        allowed = None if repository is None else self.may(caller, repository, write)
        if allowed is None or repository is None:
            if caller.kind == "anonymous":
                return _plain(401, "Authentication required.", CHALLENGE)
            return _plain(404, "Repository not found.")
        actor = caller.actor
        if not allowed:
            who = actor.login if actor else "anonymous"
            return _plain(403, f"Permission to {repository.full_name}.git denied to {who}.")
        await self.store.ensure(repository)
        env = self._cgi_env(request, repository, tail)
        if not write:
            return await self._cgi(request, env)
        assert actor is not None
        env["REMOTE_USER"] = actor.login
        env["SIM_PROTECTED"] = ",".join(self.protected_refs(repository, actor))
        env["SIM_NO_REWRITE"] = ",".join(self.protected_refs(repository, actor, rewrites=True))
        env["SIM_PROTECTED_REASON"] = "Changes must be made through a pull request."
        if request.method == "POST" and self.faults.refuse_pushes:
            env["SIM_REFUSE"] = self.faults.refuse_pushes.pop(0)
        if request.method == "GET":  # the refs advertised: nothing changes
            return await self._cgi(request, env)
        # Pushes go side by side, as on GitHub: each announces exactly the refs git updated
        # for it, as its post-receive hook was told them (never one refused, never another
        # push's); the announcements go one at a time, in the order the pushes ended.
        with tempfile.TemporaryDirectory(prefix="githubsim-push-") as scratch:
            updated = Path(scratch) / "updated"
            env["SIM_UPDATED"] = str(updated)
            response = await self._cgi(request, env)
            lines = updated.read_text().splitlines() if updated.exists() else []
        moved = [line.split(" ", 2) for line in lines if line.count(" ") == 2]
        moved = [m for m in moved if m[2].startswith(("refs/heads/", "refs/tags/"))]
        if moved:
            async with self.store.lock(repository):
                before = await self.store.refs(repository)
                after = dict(before)
                for old, new, ref in moved:
                    for refs, sha in ((before, old), (after, new)):
                        if sha == ZERO:
                            refs.pop(ref, None)
                        else:
                            refs[ref] = sha
                await self.on_push(repository, actor, before, after)
        return response

    def _cgi_env(self, request: web.Request, repository: Repository, tail: str) -> dict[str, str]:
        path = self.store.path(repository)
        env = base_env()
        env.update(
            {
                "GIT_PROJECT_ROOT": str(path.parent),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": f"/{path.name}/{tail}",
                "REQUEST_METHOD": request.method,
                "QUERY_STRING": request.query_string,
                "CONTENT_TYPE": request.headers.get("Content-Type", ""),
                "REMOTE_ADDR": request.remote or "127.0.0.1",
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.receivepack",
                "GIT_CONFIG_VALUE_0": "true",
            }
        )
        # No HTTP_CONTENT_ENCODING: aiohttp inflates a gzipped request body as it reads it,
        # so http-backend gets it plain (told it was gzipped, it inflated it again and failed).
        if "Git-Protocol" in request.headers:
            env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
        return env

    async def _cgi(self, request: web.Request, env: dict[str, str]) -> web.Response:
        """Run `git http-backend` for this request; its whole answer (so that a push is
        announced before the pusher hears back, as the tests and the bot expect)."""
        body = await request.read()
        env["CONTENT_LENGTH"] = str(len(body))
        _, out, _ = await run_process(["git", "http-backend"], None, env, body)
        head, _, payload = out.partition(b"\r\n\r\n")
        if not payload and b"\n\n" in head:
            head, _, payload = out.partition(b"\n\n")
        status, headers = 200, dict[str, str]()
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split(" ", 1)[0])
            elif key:
                headers[key.strip()] = value.strip()
        return web.Response(status=status, body=payload, headers=headers)
