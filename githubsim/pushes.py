"""What a change of refs announces: `push`, `create` and `delete` webhooks, built from git."""

from __future__ import annotations

from typing import Any

from githubsim.git_store import ZERO, GitStore
from githubsim.model import GitHubState, Repository, User

#: GitHub lists at most this many commits in a push webhook.
MAX_PUSH_COMMITS = 20
_FIELDS = ("%H", "%T", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B")


def short_ref(ref: str) -> tuple[str, str]:
    """("main", "branch") for refs/heads/main, ("v1", "tag") for refs/tags/v1."""
    if ref.startswith("refs/tags/"):
        return ref[len("refs/tags/") :], "tag"
    return ref.removeprefix("refs/heads/"), "branch"


def noreply_email(user: User) -> str:
    return f"{user.id}+{user.login}@users.noreply.github.com"


def _person(name: str, email: str, date: str) -> dict[str, Any]:
    person: dict[str, Any] = {"name": name, "email": email, "date": date}
    local, _, domain = email.partition("@")
    if domain == "users.noreply.github.com":
        person["username"] = local.partition("+")[2] or local
    return person


async def commit_details(
    store: GitStore, repository: Repository, shas: list[str], web: str
) -> list[dict[str, Any]]:
    """Commits as a push webhook lists them: message, people, files added/removed/modified."""
    if not shas:
        return []
    log = await store.git(repository, "show", "-s", "-z", "--format=" + "%x01".join(_FIELDS), *shas)
    changes = await store.git(
        repository,
        "diff-tree",
        "--stdin",
        "-r",
        "--root",
        "--name-status",
        "--no-renames",
        "-z",
        input="\n".join(shas).encode() + b"\n",
    )
    files = _files_by_commit(changes)
    commits = []
    for record in log.split("\0"):
        if not record.strip():
            continue
        sha, tree, an, ae, ad, cn, ce, cd, message = record.split("\x01", 8)
        sha = sha.strip()
        added, removed, modified = files.get(sha, ([], [], []))
        commits.append(
            {
                "id": sha,
                "tree_id": tree,
                "distinct": True,
                "message": message.rstrip("\n"),
                "timestamp": ad,
                "url": f"{web}/{repository.full_name}/commit/{sha}",
                "author": _person(an, ae, ad),
                "committer": _person(cn, ce, cd),
                "added": added,
                "removed": removed,
                "modified": modified,
            }
        )
    return commits


def _files_by_commit(output: str) -> dict[str, tuple[list[str], list[str], list[str]]]:
    found: dict[str, tuple[list[str], list[str], list[str]]] = {}
    current: tuple[list[str], list[str], list[str]] | None = None
    parts = output.split("\0")
    i = 0
    while i < len(parts):
        part = parts[i].strip("\n")
        if len(part) == 40 and all(c in "0123456789abcdef" for c in part):
            current = found.setdefault(part, ([], [], []))
            i += 1
            continue
        if part and current is not None and i + 1 < len(parts):
            status, path = part[0], parts[i + 1]
            {"A": current[0], "D": current[1]}.get(status, current[2]).append(path)
            i += 2
            continue
        i += 1
    return found


async def announce_push(
    state: GitHubState,
    store: GitStore,
    repository: Repository,
    pusher: User,
    before: dict[str, str],
    after: dict[str, str],
) -> list[str]:
    """Send `push` (and `create`/`delete`) for every ref that changed; the refs, in order."""
    web = state.render.web
    changed = sorted(r for r in set(before) | set(after) if before.get(r) != after.get(r))
    repository.pushed_at = state.clock()
    for ref in changed:
        old, new = before.get(ref, ZERO), after.get(ref, ZERO)
        created, deleted = old == ZERO, new == ZERO
        forced = False
        if not created and not deleted:
            forced = not await store.succeeds(repository, "merge-base", "--is-ancestor", old, new)
        shas: list[str] = []
        if not deleted:
            exclude = [old] if not created else [sha for sha in before.values()]
            listed = await store.git(
                repository, "rev-list", "--reverse", "--topo-order", new, "--not", *exclude
            )
            shas = listed.split()[-MAX_PUSH_COMMITS:]
        commits = await commit_details(store, repository, shas, web)
        head = commits[-1] if commits else None
        if head is None and not deleted:
            head = (await commit_details(store, repository, [new], web))[0]
            head["distinct"] = False
        name, ref_type = short_ref(ref)
        compare = (
            f"{web}/{repository.full_name}/compare/{old[:12]}...{new[:12]}"
            if not created
            else f"{web}/{repository.full_name}/commit/{new[:12]}"
        )
        state.announce(
            "push",
            None,
            repository,
            pusher,
            ref=ref,
            before=old,
            after=new,
            created=created,
            deleted=deleted,
            forced=forced,
            base_ref=None,
            compare=compare,
            commits=commits,
            head_commit=head,
            pusher={"name": pusher.login, "email": noreply_email(pusher)},
        )
        if created:
            state.announce(
                "create",
                None,
                repository,
                pusher,
                ref=name,
                ref_type=ref_type,
                master_branch=repository.default_branch,
                description=repository.description,
                pusher_type="user",
            )
        elif deleted:
            state.announce(
                "delete", None, repository, pusher, ref=name, ref_type=ref_type, pusher_type="user"
            )
    return changed
