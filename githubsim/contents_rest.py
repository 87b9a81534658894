"""The contents API: files and directories read from git, and files written as commits.

A write needs the file's current blob `sha` (GitHub's optimistic lock), makes a real commit
with a temporary index, and moves the branch like any push (announced, pull requests follow).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from githubsim import git_objects as objects
from githubsim.git_rest import RAW_TYPES, GitRest, invalid
from githubsim.git_store import ZERO
from githubsim.http import Refusal, json_answer, not_found
from githubsim.model import Repository
from githubsim.pushes import noreply_email
from githubsim.routes import Call, Route


class ContentsRest:
    def __init__(self, git: GitRest) -> None:
        self.git = git

    def routes(self) -> list[Route]:
        r, repo = Route, "/repos/{owner}/{repo}"
        read, write = ("repo", "contents"), ("repo", "contents", "write", "write")
        return [
            r("GET", repo + "/contents/{path:.*}", self.get_contents, *read),
            r("PUT", repo + "/contents/{path:.+}", self.put_contents, *write),
            r("DELETE", repo + "/contents/{path:.+}", self.delete_contents, *write),
        ]

    async def _at(self, repository: Repository, ref: str | None) -> tuple[str, str]:
        name = ref or repository.default_branch
        sha = await self.git.store.resolve(repository, name)
        if sha is None:
            if not await self.git.store.refs(repository):
                raise Refusal(404, "This repository is empty.")
            raise Refusal(404, f"No commit found for the ref {name}")
        return name, sha

    async def get_contents(self, call: Call) -> web.Response:
        repository, path = call.repo(), call.request.match_info["path"]
        ref, sha = await self._at(repository, call.request.query.get("ref"))
        found = await objects.tree(self.git.store, repository, sha, path)
        if found is None:
            raise not_found()
        if isinstance(found, list):
            return json_answer([self.git.show.content_links(repository, e, ref) for e in found])
        data = await objects.blob(self.git.store, repository, found.sha)
        accept = call.request.headers.get("Accept", "")
        if any(t in accept for t in RAW_TYPES):
            media = next(t for t in RAW_TYPES if t in accept)
            return web.Response(body=data, content_type=media, charset="utf-8")
        return json_answer(self.git.show.content_file(repository, found, ref, data))

    def _person(self, call: Call, given: Any) -> dict[str, str]:
        if isinstance(given, dict) and given.get("name") and given.get("email"):
            return {"name": str(given["name"]), "email": str(given["email"])}
        return {"name": call.actor.login, "email": noreply_email(call.actor)}

    async def _write(self, call: Call, content: bytes | None) -> web.Response:
        repository, body = call.repo(), call.body or {}
        path = call.request.match_info["path"].strip("/")
        message = body.get("message")
        if not isinstance(message, str) or not message:
            raise invalid('"message" wasn\'t supplied.', "message", "Content")
        branch = body.get("branch") or repository.default_branch
        ref = f"refs/heads/{branch}"
        parent = (await self.git.store.refs(repository)).get(ref)
        if parent is None and await self.git.store.refs(repository):
            raise Refusal(404, f"Branch {branch} not found")
        existing = await objects.tree(self.git.store, repository, parent, path) if parent else None
        if isinstance(existing, list):
            raise invalid(f"{path} is a directory", "path", "Content")
        if existing is not None and body.get("sha") is None:
            raise invalid('Invalid request.\n\n"sha" wasn\'t supplied.', "sha", "Content")
        if existing is not None and body.get("sha") != existing.sha:
            raise Refusal(409, f"{path} does not match {body.get('sha')}")
        if content is None and existing is None:
            raise not_found()
        author = self._person(call, body.get("author"))
        committer = self._person(call, body.get("committer")) if body.get("committer") else author
        sha = await objects.write_commit(
            self.git.store,
            repository,
            parent=parent,
            files={path: content},
            message=message,
            author=author,
            committer=committer,
        )
        await self.git.move(repository, call.actor, ref, sha, expected=parent or ZERO)
        info = await objects.commit(self.git.store, repository, sha)
        entry = (
            await objects.tree(self.git.store, repository, sha, path)
            if content is not None
            else None
        )
        return json_answer(
            {
                "content": self.git.show.content_links(repository, entry, branch)
                if isinstance(entry, objects.TreeEntry)
                else None,
                "commit": self.git.show.git_commit(repository, info),
            },
            status=201 if existing is None else 200,
        )

    async def put_contents(self, call: Call) -> web.Response:
        encoded = (call.body or {}).get("content")
        try:
            content = base64.b64decode("".join(str(encoded).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid("content is not valid Base64", "content", "Content") from exc
        return await self._write(call, content)

    async def delete_contents(self, call: Call) -> web.Response:
        return await self._write(call, None)
