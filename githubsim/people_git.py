"""A person's git: commits made in a scratch clone and pushed to the stand-in over HTTP."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit

from githubsim.git_store import GitError, GitStore, identity_env, run_git
from githubsim.model import Repository, User
from githubsim.pushes import noreply_email


class PushRefused(Exception):
    """git refused the push; `output` is what git printed (`remote: error: GH006: …`)."""

    def __init__(self, output: str) -> None:
        super().__init__(output.strip()[:2000])
        self.output = output


def authenticated_url(server: str, repository: Repository, login: str, token: str) -> str:
    parts = urlsplit(server)
    return (
        f"{parts.scheme}://{quote(login, safe='')}:{quote(token, safe='')}@{parts.netloc}"
        f"/{repository.full_name}.git"
    )


async def push_files(
    store: GitStore,
    server: str,
    repository: Repository,
    person: User,
    token: str,
    *,
    files: Mapping[str, str | bytes | None],
    branch: str,
    from_branch: str | None,
    message: str,
    force: bool = False,
) -> str:
    """Commit `files` (None deletes a path) on top of `from_branch` (or `branch`, or the
    default branch, or nothing for a first commit) and push it to `branch` with the person's
    token; its sha."""
    url = authenticated_url(server, repository, person.login, token)
    folder = Path(tempfile.mkdtemp(prefix="githubsim-person-"))
    env = identity_env({"name": person.login, "email": noreply_email(person)})
    try:
        await run_git("init", "--quiet", f"--initial-branch={branch}", str(folder))
        start = from_branch or branch
        if not await store.resolve(repository, f"refs/heads/{start}"):
            start = repository.default_branch  # a new branch starts from the default one
        if await store.resolve(repository, f"refs/heads/{start}"):
            await run_git("fetch", "--quiet", url, f"refs/heads/{start}", cwd=folder)
            await run_git("checkout", "--quiet", "-B", branch, "FETCH_HEAD", cwd=folder)
        for path, content in files.items():
            target = folder / path
            if content is None:
                await run_git("rm", "--quiet", "--", path, cwd=folder)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            await run_git("add", "--", path, cwd=folder)
        await run_git("commit", "--quiet", "--allow-empty", "-m", message, cwd=folder, env=env)
        _, sha = await run_git("rev-parse", "HEAD", cwd=folder)
        refspec = ("+" if force else "") + f"HEAD:refs/heads/{branch}"
        try:
            await run_git("push", "--quiet", url, refspec, cwd=folder)
        except GitError as exc:
            raise PushRefused(exc.stderr) from exc
        return sha.decode().strip()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
