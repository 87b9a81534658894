"""One confinement rule for every write: replies, recordings, and checkpoints replayed on resume.

Each forbidden place is written by a recorded reply (the executor's path) and by a forged
checkpoint's redo log (the resume path); neither may reach it, and the run goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot import cli
from bot.engine.checkpoint import CheckpointStore
from bot.engine.confine import Confinement
from bot.engine.executor import Executor
from bot.engine.files import PathRefused
from bot.engine.loader import load
from bot.engine.tasks import Reply, Task
from tests.support import ROOT

SMOKE = ROOT / "tests/fixtures/smoke"

FORBIDDEN = [
    (".env", "not available to agents"),
    (".env.production", "not available to agents"),
    ("a/.git/config", "not available to agents"),
    (".git/hooks/post-checkout", "not available to agents"),
    ("node_modules/x/index.js", "not available to agents"),
    (".venv/bin/activate", "not available to agents"),
    (".orchestrator/runs/forged.json", "not available to agents"),
    ("state/runs/brief-0.json", "the orchestrator's data"),  # the data dir, by another name
    (".github/workflows/leak.yml", "never change it"),
    ("_bmad/bmm/workflows/brief/steps/step-02-users.md", "never change it"),
    (".claude/skills/bmad-prd/SKILL.md", "never change it"),
    ("../outside.txt", "leads outside"),
    ("/tmp/outside.txt", "leads outside"),
    ("linked/escape.txt", "leads outside"),
]


def repository(tmp_path: Path) -> Path:
    repo = shutil.copytree(SMOKE / "repo", tmp_path / "repo")
    (tmp_path / "elsewhere").mkdir()
    (repo / "linked").symlink_to(tmp_path / "elsewhere")
    return repo


class Writer:
    """An agent whose every reply also writes `files` (as a hostile or confused model might)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    async def perform(self, task: Task) -> Reply:
        return Reply(text=f"## {task.step_goal}\n", files=self.files)


@pytest.mark.parametrize(("path", "why"), FORBIDDEN, ids=[p for p, _ in FORBIDDEN])
async def test_a_reply_cannot_write_there(tmp_path, path, why):
    repo = repository(tmp_path)
    data = repo / "state"  # a data dir inside the repository, under no well-known name
    project = load(repo)
    events: list[tuple[str, dict]] = []
    executor = Executor(
        project,
        Writer({path: "pwned"}),
        CheckpointStore(data / "runs"),
        on_event=lambda kind, info: events.append((kind, info)),
    )
    before = snapshot(tmp_path)
    result = await executor.run("brief")
    assert result.status == "done"  # a refused write is reported; the run goes on
    refused = [info for kind, info in events if kind == "write-refused"]
    assert refused and all(why in info["reason"] for info in refused), refused
    after = snapshot(tmp_path)
    changed = {p for p in after if before.get(p) != after[p]}
    assert {p for p in changed if not p.startswith(("repo/docs/", "repo/state/"))} == set()
    assert "pwned" not in "".join(after[p] for p in changed)


@pytest.mark.parametrize(("path", "why"), FORBIDDEN, ids=[p for p, _ in FORBIDDEN])
def test_a_forged_checkpoint_cannot_write_there_on_resume(tmp_path, capsys, path, why):
    repo = repository(tmp_path)
    data = repo / "state"  # a data dir inside the repository, under no well-known name
    run = ["run", "brief", "--repo", str(repo), "--llm",
           f"replay:{SMOKE / 'recording.jsonl'}", "--data-dir", str(data)]  # fmt: skip
    assert cli.main(run, environ={}) == 0
    checkpoint_file = next((data / "runs").glob("*.json"))
    checkpoint = json.loads(checkpoint_file.read_text())
    # Someone with access to the data dir rewinds the run and logs a write of their own.
    checkpoint |= {"status": "running", "pending_writes": {path: "pwned"},
                   "stack": [{"workflow": "brief", "step_index": 3}]}  # fmt: skip
    checkpoint_file.write_text(json.dumps(checkpoint))
    capsys.readouterr()
    before = snapshot(tmp_path)
    cli.main([*run, "--resume"], environ={})
    out = capsys.readouterr().out
    assert "write-refused" in out and why in out
    after = snapshot(tmp_path)
    changed = {p for p in after if before.get(p) != after[p]}
    assert all(p.startswith("repo/state/") for p in changed), changed


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(errors="replace")
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_the_policy_reads_and_writes_by_one_rule(tmp_path):
    repo = repository(tmp_path)
    policy = Confinement(repo, hidden=[repo / "state"])
    assert policy.check_write("docs/brief.md") == "docs/brief.md"
    assert policy.check_read(".github/workflows/ci.yml") == ".github/workflows/ci.yml"
    assert policy.check_read("_bmad/bmm/config.yaml") == "_bmad/bmm/config.yaml"
    assert policy.check_write("_bmad-output/prd.md") == "_bmad-output/prd.md"  # not the install
    for path in (".env", "src/.env.local", "a/.git/HEAD", "state/x"):
        with pytest.raises(PathRefused):
            policy.check_read(path)
    (repo / "docs").mkdir()
    (repo / "docs/to-git").symlink_to(repo / ".git", target_is_directory=True)
    with pytest.raises(PathRefused, match="not available"):
        policy.check_write("docs/to-git/config")  # a link into a hidden place, by its target
    with pytest.raises(ValueError, match="lies inside"):
        Confinement(repo, hidden=[tmp_path])  # a data dir that holds the repository


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "cannot be read as JSON"),
        ("[]", "not a valid checkpoint (at the top level: [] is not of type 'object')"),
        ('{"run_id": "x", "workflow": "brief", "status": "running", "stack": []}',
         "should be non-empty"),
        ('{"run_id": "x", "workflow": "brief", "status": "running",'
         ' "stack": [{"workflow": "brief", "step_index": -1}]}', "at stack/0/step_index"),
        ('{"run_id": "x", "workflow": "brief", "status": "done", "stack": [],'
         ' "pending_writes": {"docs/a.md": 1}}', "at pending_writes/docs/a.md"),
    ],
)  # fmt: skip
def test_an_invalid_checkpoint_is_refused_with_what_is_wrong(tmp_path, capsys, content, why):
    repo = repository(tmp_path)
    data = tmp_path / "data"
    run = ["run", "brief", "--repo", str(repo), "--llm",
           f"replay:{SMOKE / 'recording.jsonl'}", "--data-dir", str(data)]  # fmt: skip
    assert cli.main(run, environ={}) == 0
    checkpoint_file = next((data / "runs").glob("*.json"))
    checkpoint_file.write_text(content)
    capsys.readouterr()
    assert cli.main([*run, "--resume"], environ={}) == 1
    out = capsys.readouterr().out
    assert why in out and "start the run again without --resume" in out, out
    assert checkpoint_file.read_text() == content  # left as it was, for a person to look at
