"""Git objects as GitHub's REST API shows them: refs, commits, branches, contents, comparisons."""

from __future__ import annotations

import base64
import datetime
from typing import Any
from urllib.parse import quote

from githubsim.git_objects import CommitInfo, FileChange, Person, TreeEntry
from githubsim.model import GitHubState, Repository
from githubsim.render import node_id


def utc(date: str) -> str:
    """git's ISO 8601 with an offset, as GitHub writes it (UTC, `Z`)."""
    moment = datetime.datetime.fromisoformat(date).astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GitRenderer:
    def __init__(self, state: GitHubState) -> None:
        self.state = state

    @property
    def api(self) -> str:
        return str(self.state.render.api)

    @property
    def web(self) -> str:
        return str(self.state.render.web)

    def base(self, repository: Repository) -> str:
        return f"{self.api}/repos/{repository.full_name}"

    def ref(self, repository: Repository, ref: str, sha: str) -> dict[str, Any]:
        return {
            "ref": ref,
            "node_id": node_id("Ref", abs(hash((repository.id, ref))) % 10**9),
            "url": f"{self.base(repository)}/git/{ref}",
            "object": {
                "sha": sha,
                "type": "commit",
                "url": f"{self.base(repository)}/git/commits/{sha}",
            },
        }

    def git_person(self, person: Person) -> dict[str, Any]:
        return {"name": person.name, "email": person.email, "date": utc(person.date)}

    def account(self, person: Person) -> dict[str, Any] | None:
        """The GitHub user a commit's email belongs to (the no-reply form), else null."""
        local, _, domain = person.email.partition("@")
        if domain != "users.noreply.github.com":
            return None
        user = self.state.users.get(local.partition("+")[2].lower() or local.lower())
        return self.state.render.user(user) if user else None

    def git_commit(self, repository: Repository, commit: CommitInfo) -> dict[str, Any]:
        base = self.base(repository)
        return {
            "sha": commit.sha,
            "node_id": node_id("Commit", int(commit.sha[:8], 16)),
            "url": f"{base}/git/commits/{commit.sha}",
            "html_url": f"{self.web}/{repository.full_name}/commit/{commit.sha}",
            "author": self.git_person(commit.author),
            "committer": self.git_person(commit.committer),
            "tree": {"sha": commit.tree, "url": f"{base}/git/trees/{commit.tree}"},
            "message": commit.message.rstrip("\n"),
            "parents": [
                {
                    "sha": p,
                    "url": f"{base}/git/commits/{p}",
                    "html_url": f"{self.web}/{repository.full_name}/commit/{p}",
                }
                for p in commit.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def commit(
        self,
        repository: Repository,
        commit: CommitInfo,
        files: list[FileChange] | None = None,
    ) -> dict[str, Any]:
        base = self.base(repository)
        git = self.git_commit(repository, commit)
        data: dict[str, Any] = {
            "url": f"{base}/commits/{commit.sha}",
            "sha": commit.sha,
            "node_id": git["node_id"],
            "html_url": git["html_url"],
            "comments_url": f"{base}/commits/{commit.sha}/comments",
            "commit": {
                "url": git["url"],
                "author": git["author"],
                "committer": git["committer"],
                "message": git["message"],
                "comment_count": 0,
                "tree": git["tree"],
                "verification": git["verification"],
            },
            "author": self.account(commit.author),
            "committer": self.account(commit.committer),
            "parents": [
                {"sha": p, "url": f"{base}/commits/{p}", "html_url": git_parent["html_url"]}
                for p, git_parent in zip(commit.parents, git["parents"], strict=True)
            ],
        }
        if files is not None:
            additions = sum(f.additions for f in files)
            deletions = sum(f.deletions for f in files)
            data["stats"] = {
                "additions": additions,
                "deletions": deletions,
                "total": additions + deletions,
            }
            data["files"] = [self.file_change(repository, commit.sha, f) for f in files]
        return data

    def file_change(self, repository: Repository, ref: str, change: FileChange) -> dict[str, Any]:
        path = quote(change.filename)
        return {
            "sha": change.sha,
            "filename": change.filename,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{self.web}/{repository.full_name}/blob/{ref}/{path}",
            "raw_url": f"{self.web}/{repository.full_name}/raw/{ref}/{path}",
            "contents_url": f"{self.base(repository)}/contents/{path}?ref={ref}",
            "patch": change.patch,
        }

    def content_links(self, repository: Repository, entry: TreeEntry, ref: str) -> dict[str, Any]:
        base, path = self.base(repository), quote(entry.path)
        kind = {"tree": "dir", "commit": "submodule"}.get(entry.type, "file")
        url = f"{base}/contents/{path}?ref={quote(ref)}"
        git_url = f"{base}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
        html_url = (
            f"{self.web}/{repository.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
        )
        return {
            "type": kind,
            "size": entry.size,
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": f"{self.web}/{repository.full_name}/raw/{ref}/{path}"
            if kind == "file"
            else None,
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def content_file(
        self, repository: Repository, entry: TreeEntry, ref: str, data: bytes
    ) -> dict[str, Any]:
        encoded = base64.encodebytes(data).decode()
        return {
            **self.content_links(repository, entry, ref),
            "content": encoded,
            "encoding": "base64",
        }

    def branch_brief(
        self, repository: Repository, name: str, sha: str, protected: bool
    ) -> dict[str, Any]:
        return {
            "name": name,
            "commit": {"sha": sha, "url": f"{self.base(repository)}/commits/{sha}"},
            "protected": protected,
        }
