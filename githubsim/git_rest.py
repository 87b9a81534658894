"""REST routes on a repository's git: refs, branches, commits, compare, contents.

Every ref a route moves is moved with a compare-and-swap `git update-ref` under the
repository's lock (a push beside it moves refs without it: one that moved this ref first
makes the swap fail, answered 409 as GitHub answers a ref that moved), then announced exactly
as a push over HTTP is (`push`, `create`, `delete`, open pull requests following their
branches).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from githubsim import git_objects as objects
from githubsim.git_http import GitHttp
from githubsim.git_store import ZERO, GitError, GitStore
from githubsim.http import Refusal, json_answer, not_found, paginate
from githubsim.model import GitHubState, Repository, User
from githubsim.render_git import GitRenderer
from githubsim.routes import Call, Route

OnPush = Callable[[Repository, User, dict[str, str], dict[str, str]], Awaitable[None]]
RAW_TYPES = ("application/vnd.github.raw", "application/vnd.github.v3.raw")


def invalid(message: str, field: str = "", resource: str = "Reference") -> Refusal:
    errors = [{"resource": resource, "code": "invalid", "field": field}] if field else None
    return Refusal(422, message, errors)


class GitRest:
    def __init__(
        self, state: GitHubState, store: GitStore, git_http: GitHttp, on_push: OnPush
    ) -> None:
        self.state, self.store, self.git_http, self.on_push = state, store, git_http, on_push
        self.show = GitRenderer(state)

    def routes(self) -> list[Route]:
        r, repo = Route, "/repos/{owner}/{repo}"
        read, write = ("repo", "contents"), ("repo", "contents", "write", "write")
        return [
            r("GET", repo + "/git/ref/{ref:.+}", self.get_ref, *read),
            r("GET", repo + "/git/matching-refs/{ref:.*}", self.matching_refs, *read),
            r("POST", repo + "/git/refs", self.create_ref, *write),
            r("PATCH", repo + "/git/refs/{ref:.+}", self.update_ref, *write),
            r("DELETE", repo + "/git/refs/{ref:.+}", self.delete_ref, *write),
            r("GET", repo + "/git/commits/{commit_sha}", self.get_git_commit, *read),
            r("GET", repo + "/branches", self.list_branches, *read),
            r("GET", repo + "/branches/{branch:.+}", self.get_branch, *read),
            r("GET", repo + "/commits", self.list_commits, *read),
            r("GET", repo + "/commits/{ref}", self.get_commit, *read),
            r("GET", repo + "/compare/{basehead:.+}", self.compare, *read),
        ]

    # Moving refs -----------------------------------------------------------------------

    async def move(
        self,
        repository: Repository,
        actor: User,
        ref: str,
        new: str | None,
        *,
        expected: str | None = None,
        force: bool = True,
        merging: bool = False,
    ) -> None:
        """Point `ref` at `new` (None deletes it) if it still is `expected`; announce it.
        Only a pull request's merge (`merging`) moves a protected branch."""
        if not merging and ref in self.git_http.protected_refs(repository, actor):
            raise Refusal(
                409,
                f"Protected branch update failed for {ref}. "
                "Changes must be made through a pull request.",
            )
        async with self.store.lock(repository):
            before = await self.store.refs(repository)
            current = before.get(ref)
            if expected is not None and current != (None if expected == ZERO else expected):
                raise Refusal(409, f"{ref} has moved; is at {current}")
            guarded = not merging and ref in self.git_http.protected_refs(
                repository, actor, rewrites=True
            )
            if guarded and current and new is None:
                raise invalid("Cannot delete this protected branch")
            if (
                new is not None
                and current
                and (guarded or not force)
                and not await self.store.succeeds(
                    repository, "merge-base", "--is-ancestor", current, new
                )
            ):
                raise invalid(
                    "Cannot force-push to this branch"
                    if guarded
                    else "Update is not a fast forward"
                )
            try:
                if new is None:
                    await self.store.git(repository, "update-ref", "-d", ref, current or "")
                else:
                    await self.store.git(repository, "update-ref", ref, new, current or ZERO)
            except GitError as exc:  # a push moved it after it was read
                raise Refusal(409, f"{ref} has moved") from exc
            # Only `ref` is this move's: a push beside it announces its own refs.
            after = {r: sha for r, sha in before.items() if r != ref}
            if new is not None:
                after[ref] = new
        if before != after:
            await self.on_push(repository, actor, before, after)

    async def _commit_or_422(self, repository: Repository, sha: Any) -> str:
        found = await self.store.resolve(repository, str(sha)) if isinstance(sha, str) else None
        if found is None or len(str(sha)) != 40:
            raise invalid("Object does not exist", "sha")
        return found

    # Refs ----------------------------------------------------------------------------------

    async def get_ref(self, call: Call) -> web.Response:
        repository, ref = call.repo(), "refs/" + call.request.match_info["ref"]
        sha = (await self.store.refs(repository)).get(ref)
        if sha is None:
            raise not_found()
        return json_answer(self.show.ref(repository, ref, sha))

    async def matching_refs(self, call: Call) -> web.Response:
        repository, prefix = call.repo(), "refs/" + call.request.match_info["ref"]
        refs = sorted((await self.store.refs(repository)).items())
        return json_answer(
            [self.show.ref(repository, r, s) for r, s in refs if r.startswith(prefix)]
        )

    async def create_ref(self, call: Call) -> web.Response:
        repository, body = call.repo(), call.body or {}
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise invalid(
                "Reference name must start with 'refs/' and have at least two slashes.", "ref"
            )
        sha = await self._commit_or_422(repository, body.get("sha"))
        if ref in await self.store.refs(repository):
            raise invalid("Reference already exists")
        await self.move(repository, call.actor, ref, sha, expected=ZERO)
        return json_answer(self.show.ref(repository, ref, sha), status=201)

    async def update_ref(self, call: Call) -> web.Response:
        repository, body = call.repo(), call.body or {}
        ref = "refs/" + call.request.match_info["ref"]
        current = (await self.store.refs(repository)).get(ref)
        if current is None:
            raise invalid("Reference does not exist")
        sha = await self._commit_or_422(repository, body.get("sha"))
        await self.move(
            repository, call.actor, ref, sha, expected=current, force=bool(body.get("force"))
        )
        return json_answer(self.show.ref(repository, ref, sha))

    async def delete_ref(self, call: Call) -> web.Response:
        repository, ref = call.repo(), "refs/" + call.request.match_info["ref"]
        current = (await self.store.refs(repository)).get(ref)
        if current is None:
            raise invalid("Reference does not exist")
        await self.move(repository, call.actor, ref, None, expected=current)
        return web.Response(status=204)

    # Commits and branches ------------------------------------------------------------------

    async def _resolve(self, repository: Repository, revision: str) -> str:
        sha = await self.store.resolve(repository, revision)
        if sha is None:
            raise Refusal(404, f"No commit found for SHA: {revision}")
        return sha

    async def get_git_commit(self, call: Call) -> web.Response:
        repository = call.repo()
        sha = await self._resolve(repository, call.request.match_info["commit_sha"])
        info = await objects.commit(self.store, repository, sha)
        return json_answer(self.show.git_commit(repository, info))

    async def get_commit(self, call: Call) -> web.Response:
        repository = call.repo()
        sha = await self._resolve(repository, call.request.match_info["ref"])
        info = await objects.commit(self.store, repository, sha)
        base = info.parents[0] if info.parents else await self._empty_tree(repository)
        files = await objects.changes(self.store, repository, base, sha)
        return json_answer(self.show.commit(repository, info, files))

    async def _empty_tree(self, repository: Repository) -> str:
        return (
            await self.store.git(repository, "hash-object", "-t", "tree", "--stdin", input=b"")
        ).strip()

    async def list_commits(self, call: Call) -> web.Response:
        repository, query = call.repo(), call.request.query
        start = query.get("sha") or repository.default_branch
        if not await self.store.refs(repository):
            raise Refusal(409, "Git Repository is empty.")
        sha = await self._resolve(repository, start)
        shas = await objects.log(self.store, repository, [sha], path=query.get("path"))
        chosen, link = paginate(call.request, shas, f"{self.show.base(repository)}/commits")
        infos = await objects.commits(self.store, repository, chosen)
        return json_answer([self.show.commit(repository, i) for i in infos], link=link)

    def _protected(self, repository: Repository, branch: str) -> bool:
        return (repository.id, branch) in self.git_http.protections

    async def list_branches(self, call: Call) -> web.Response:
        repository = call.repo()
        branches = sorted(
            (r.removeprefix("refs/heads/"), s)
            for r, s in (await self.store.refs(repository)).items()
            if r.startswith("refs/heads/")
        )
        if call.request.query.get("protected") == "true":
            branches = [b for b in branches if self._protected(repository, b[0])]
        chosen, link = paginate(call.request, branches, f"{self.show.base(repository)}/branches")
        return json_answer(
            [
                self.show.branch_brief(repository, n, s, self._protected(repository, n))
                for n, s in chosen
            ],
            link=link,
        )

    async def get_branch(self, call: Call) -> web.Response:
        repository, name = call.repo(), call.request.match_info["branch"]
        sha = (await self.store.refs(repository)).get(f"refs/heads/{name}")
        if sha is None:
            raise Refusal(404, "Branch not found")
        info = await objects.commit(self.store, repository, sha)
        base = self.show.base(repository)
        protected = self._protected(repository, name)
        return json_answer(
            {
                "name": name,
                "commit": self.show.commit(repository, info),
                "_links": {
                    "self": f"{base}/branches/{name}",
                    "html": f"{self.show.web}/{repository.full_name}/tree/{name}",
                },
                "protected": protected,
                "protection": {
                    "enabled": protected,
                    "required_status_checks": {
                        "enforcement_level": "off",
                        "contexts": [],
                        "checks": [],
                    },
                },
                "protection_url": f"{base}/branches/{name}/protection",
            }
        )

    async def compare(self, call: Call) -> web.Response:
        repository = call.repo()
        base_name, dots, head_name = call.request.match_info["basehead"].partition("...")
        if not dots:
            raise not_found()
        base, head = (
            await self._resolve(repository, base_name),
            await self._resolve(repository, head_name),
        )
        merge_base = (await self.store.git(repository, "merge-base", base, head, ok=(0, 1))).strip()
        if not merge_base:
            raise Refusal(404, f"No common ancestor between {base_name} and {head_name}.")
        ahead = await objects.log(self.store, repository, [head, "--not", base])
        behind = await objects.log(self.store, repository, [base, "--not", head])
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        infos = await objects.commits(self.store, repository, list(reversed(ahead)))
        files = await objects.changes(self.store, repository, merge_base, head)
        web_base = f"{self.show.web}/{repository.full_name}"
        spec = f"{base_name}...{head_name}"
        return json_answer(
            {
                "url": f"{self.show.base(repository)}/compare/{spec}",
                "html_url": f"{web_base}/compare/{spec}",
                "permalink_url": f"{web_base}/compare/{base[:7]}...{head[:7]}",
                "diff_url": f"{web_base}/compare/{spec}.diff",
                "patch_url": f"{web_base}/compare/{spec}.patch",
                "base_commit": self.show.commit(
                    repository, await objects.commit(self.store, repository, base)
                ),
                "merge_base_commit": self.show.commit(
                    repository, await objects.commit(self.store, repository, merge_base)
                ),
                "status": status,
                "ahead_by": len(ahead),
                "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": [self.show.commit(repository, i) for i in infos],
                "files": [self.show.file_change(repository, head, f) for f in files],
            }
        )
