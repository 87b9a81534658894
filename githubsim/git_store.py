"""Each repository's bare git repository on disk, and git itself run off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from cachetools import LRUCache

from githubsim.model import Repository

#: The all-zero object id git uses for "no such ref" (a created or deleted ref).
ZERO = "0" * 40

#: The pre-receive hook every repository gets. The server tells it, per push, which refs the
#: pusher may not update (`SIM_PROTECTED`: a pull request is required), may not force-push or
#: delete (`SIM_NO_REWRITE`), and whether to refuse the push outright (`SIM_REFUSE`, a fault
#: on demand); git shows its stderr as `remote:` lines, as GitHub's GH006 messages are shown.
PRE_RECEIVE = """#!/bin/sh
status=0
if [ -n "$SIM_REFUSE" ]; then
  echo "error: $SIM_REFUSE" >&2
  exit 1
fi
zero=0000000000000000000000000000000000000000
while read -r old new ref; do
  case ",$SIM_PROTECTED," in
    *",$ref,"*)
      echo "error: GH006: Protected branch update failed for $ref." >&2
      echo "error: $SIM_PROTECTED_REASON" >&2
      status=1
      continue
      ;;
  esac
  case ",$SIM_NO_REWRITE," in
    *",$ref,"*)
      if [ "$new" = "$zero" ]; then
        echo "error: GH006: Protected branch update failed for $ref." >&2
        echo "error: Cannot delete this protected branch" >&2
        status=1
      elif [ "$old" != "$zero" ] && ! git merge-base --is-ancestor "$old" "$new"; then
        echo "error: GH006: Protected branch update failed for $ref." >&2
        echo "error: Cannot force-push to this branch" >&2
        status=1
      fi
      ;;
  esac
done
exit $status
"""

#: The post-receive hook: git gives it the refs the push did update, `<old> <new> <ref>` each
#: (not those refused); it writes them where the server asks (`SIM_UPDATED`), so that pushes
#: side by side each announce exactly their own.
POST_RECEIVE = """#!/bin/sh
if [ -n "$SIM_UPDATED" ]; then
  cat > "$SIM_UPDATED"
fi
exit 0
"""
HOOKS = {"pre-receive": PRE_RECEIVE, "post-receive": POST_RECEIVE}

#: Who the stand-in's own commits (merges, contents API) are by when no one is named.
SIM_IDENTITY = {"name": "GitHub", "email": "noreply@github.com"}


class GitError(Exception):
    """A git command failed; `stderr` says why, `status` is its exit status."""

    def __init__(self, args: tuple[str, ...], status: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args[:3])} failed ({status}): {stderr.strip()[:500]}")
        self.status, self.stderr = status, stderr


def identity_env(
    author: Mapping[str, str] | None, committer: Mapping[str, str] | None = None
) -> dict[str, str]:
    """GIT_AUTHOR_* and GIT_COMMITTER_* for a commit made by the stand-in."""
    author = author or SIM_IDENTITY
    committer = committer or author
    return {
        "GIT_AUTHOR_NAME": author["name"],
        "GIT_AUTHOR_EMAIL": author["email"],
        "GIT_COMMITTER_NAME": committer["name"],
        "GIT_COMMITTER_EMAIL": committer["email"],
    }


def base_env() -> dict[str, str]:
    """The environment git runs in: no user or system config, no prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    return env


async def run_git(
    *args: str,
    cwd: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
) -> tuple[int, bytes]:
    """Run git without blocking the loop; (status, stdout). Raises GitError outside `ok`."""
    status, out, err = await run_process(["git", *args], cwd, {**base_env(), **(env or {})}, input)
    if status not in ok:
        raise GitError(args, status, err.decode(errors="replace"))
    return status, out


#: Processes start from these threads: starting one from the event loop freezes the loop
#: until the child has exec'd (10-25 ms on a busy machine), which every webhook, API answer
#: and git request waits out.
_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="sim-git")


async def run_process(
    argv: list[str], cwd: Path | None, env: Mapping[str, str], input: bytes | None
) -> tuple[int, bytes, bytes]:
    """(status, stdout, stderr) of `argv`, run to its end in a thread; `input` is its stdin."""

    def run() -> tuple[int, bytes, bytes]:
        done = subprocess.run(  # noqa: S603 - the stand-in's own git, no shell
            argv, cwd=cwd, env=dict(env), input=input, capture_output=True, check=False,
            stdin=subprocess.DEVNULL if input is None else None,
        )  # fmt: skip
        return done.returncode, done.stdout, done.stderr

    return await asyncio.get_running_loop().run_in_executor(_THREADS, run)


class GitStore:
    """Bare repositories under `root`, one per repository, made on first use."""

    def __init__(self, root: Path | None = None) -> None:
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="githubsim-git-")) if root is None else root
        self._locks: dict[int, asyncio.Lock] = {}
        self._answers: LRUCache[tuple[str, ...], str] = LRUCache(maxsize=4096)
        self._hooked: set[Path] = set()

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def path(self, repository: Repository) -> Path:
        return self.root / repository.owner.login.lower() / f"{repository.name.lower()}.git"

    def lock(self, repository: Repository) -> asyncio.Lock:
        """Held while refs change, so a push's before and after are its own."""
        return self._locks.setdefault(repository.id, asyncio.Lock())

    async def ensure(self, repository: Repository) -> Path:
        """The repository's bare git, made on first use (or adopted, if one is already on
        disk where it belongs), with the stand-in's hooks."""
        path = self.path(repository)
        if not (path / "HEAD").exists():
            self._hooked.discard(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            await run_git(
                "init",
                "--quiet",
                "--bare",
                f"--initial-branch={repository.default_branch}",
                str(path),
            )
        if path not in self._hooked:  # once a run: a file read at every git request before
            for name, text in HOOKS.items():
                hook = path / "hooks" / name
                if not hook.exists() or hook.read_text() != text:
                    hook.parent.mkdir(parents=True, exist_ok=True)
                    hook.write_text(text)
                    hook.chmod(0o755)
            self._hooked.add(path)
        return path

    async def git(
        self,
        repository: Repository,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> str:
        key = (str(self.path(repository)), *args)
        fixed = input is None and env is None and _names_objects_only(args)
        if fixed and (answer := self._answers.get(key)) is not None:
            return answer
        status, out = await run_git(
            "--git-dir", str(self.path(repository)), *args, input=input, env=env, ok=ok
        )
        answer = out.decode(errors="replace")
        if fixed and status == 0:
            self._answers[key] = answer
        return answer

    async def succeeds(self, repository: Repository, *args: str) -> bool:
        """Whether a yes-or-no git command said yes (0); no (1) or no such object (128): no."""
        status, _ = await run_git("--git-dir", str(self.path(repository)), *args, ok=(0, 1, 128))
        return status == 0

    async def refs(self, repository: Repository) -> dict[str, str]:
        """Every branch and tag: ref name -> object id (read from the repository's files as
        `git for-each-ref` reads them; git itself when they cannot be read so)."""
        await self.ensure(repository)
        with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):  # else git's word
            return _refs_on_disk(self.path(repository))
        out = await self.git(
            repository,
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/tags",
        )
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    async def resolve(self, repository: Repository, revision: str) -> str | None:
        """The commit a branch, tag or sha names, or None."""
        await self.ensure(repository)
        if revision.startswith("-"):
            return None
        path = self.path(repository)
        if (tip := _branch_tip(path, revision)) is not None:
            return tip
        key = (str(path), "resolve", revision)  # a commit id names the same commit for ever
        if _OBJECT_ID.fullmatch(revision) and (known := self._answers.get(key)) is not None:
            return known
        status, out = await run_git(
            "--git-dir",
            str(self.path(repository)),
            "rev-parse",
            "--verify",
            "--quiet",
            f"{revision}^{{commit}}",
            ok=(0, 1, 128),
        )
        if status != 0:
            return None
        found = out.decode().strip()
        if _OBJECT_ID.fullmatch(revision):
            self._answers[key] = found
        return found

    @asynccontextmanager
    async def worktree(self, repository: Repository, commit: str) -> AsyncIterator[Path]:
        """A temporary checkout of `commit` (detached), removed afterwards."""
        folder = Path(tempfile.mkdtemp(prefix="githubsim-wt-")) / "work"
        await self.git(repository, "worktree", "add", "--quiet", "--detach", str(folder), commit)
        try:
            yield folder
        finally:
            await self.git(repository, "worktree", "remove", "--force", str(folder), ok=(0, 128))
            shutil.rmtree(folder.parent, ignore_errors=True)


#: Commands whose answer depends only on the objects named (never on refs): asked again with
#: the same full object ids, git answers the same, so the stand-in answers from memory (a
#: twenty-story sprint asked git ~1,500 times, mostly the same commits and diffs).
_READS = frozenset({"show", "diff", "diff-tree", "log", "rev-list", "merge-base", "ls-tree"})
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


#: A part of a branch name between slashes, plainly one (no revision syntax, no `..`, not
#: ending in `.` or `.lock`).
_BRANCH_PART = re.compile(r"(?!.*\.\.)(?!.*\.lock$)(?!.*\.$)[A-Za-z0-9_][A-Za-z0-9._-]*")


def _refs_on_disk(path: Path) -> dict[str, str]:
    """Branches and tags of a bare repository, read from its files as `git for-each-ref`
    reads them (loose refs first, so that refs packed meanwhile are not missed; a loose ref,
    broken or not, hides its packed line), sorted as git lists them: the stand-in asked git
    before and after every push, ~300 times a sprint. ValueError for what only git should
    read (a symbolic ref among them)."""
    found: dict[str, str] = {}
    loose: set[str] = set()
    for top in ("refs/heads", "refs/tags"):
        for folder, _, names in os.walk(path / top):
            for name in names:
                if name.endswith(".lock"):
                    continue  # a ref being written: git shows the ref file, not its lock
                file = Path(folder, name)
                value = file.read_text().strip()
                if value.startswith("ref:"):
                    raise ValueError(f"{file}: a symbolic ref")
                ref = file.relative_to(path).as_posix()
                loose.add(ref)
                if _OBJECT_ID.fullmatch(value):  # else broken: git skips it too
                    found[ref] = value
    for ref, sha in _packed_refs(path).items():
        if ref.startswith(("refs/heads/", "refs/tags/")) and ref not in loose:
            found[ref] = sha
    return dict(sorted(found.items()))


def _packed_refs(path: Path) -> dict[str, str]:
    try:
        lines = (path / "packed-refs").read_text().splitlines()
    except FileNotFoundError:
        return {}
    refs: dict[str, str] = {}
    for line in lines:
        if line and line[0] not in "#^":  # `^`: the tag above it peeled
            sha, _, name = line.partition(" ")
            refs[name.strip()] = sha
    return refs


def _branch_tip(path: Path, revision: str) -> str | None:
    """The commit `revision` names when it is a branch (`main`, `refs/heads/main`) and git
    could mean nothing else by it (no file or ref of that name comes before the branch in
    git's order, `$GIT_DIR/<name>`, `refs/<name>`, `refs/tags/<name>`); None leaves it to
    `git rev-parse`."""
    name = revision.removeprefix("refs/heads/")
    if not all(_BRANCH_PART.fullmatch(part) for part in name.split("/")):
        return None  # not a name git takes for a branch (or not plainly): git decides
    try:
        before = [] if name != revision else [name, f"refs/{name}", f"refs/tags/{name}"]
        packed = _packed_refs(path)
        if any((path / other).exists() or other in packed for other in before):
            return None
        ref = f"refs/heads/{name}"
        try:
            value = (path / ref).read_text().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            value = packed.get(ref, "")
    except OSError:
        return None
    return value if _OBJECT_ID.fullmatch(value) else None


def _names_objects_only(args: tuple[str, ...]) -> bool:
    """A read whose operands (before `--`) are all full object ids, its options fixed."""
    if not args or args[0] not in _READS:
        return False
    operands = args[1 : args.index("--")] if "--" in args else args[1:]
    named = [a for a in operands if not a.startswith("-")]
    return bool(named) and all(_OBJECT_ID.fullmatch(a) for a in named)
