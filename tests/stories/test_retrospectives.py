"""An epic whose stories are all done, on the local GitHub with a real job queue: with
`retrospectives` off nothing is queued; turned on, the install's retrospective workflow is
queued once (the epic's issue its home, one status comment there), however many passes and
restarts follow; when its run ends done, `epic-N-retrospective` becomes done. A second epic
with work left, and a person's `cancelled` retrospective, are left alone."""

from __future__ import annotations

from bot.project.board_sync import BoardSync
from bot.project.retrospectives import Retrospectives, job_key
from bot.runs.commands import Starter
from bot.runs.github_home import GitHubHome
from bot.runs.jobs import Outcome
from bot.runs.queue import JobQueue
from bot.runs.runner import Runner, RunnerLimits
from bot.stories.sprints import Sprints
from tests.support import APP_ID, ROOT

MODEL = "anthropic:claude-haiku-4-5"
SMOKE = ROOT / "tests/fixtures/smoke/repo"
PATH = "docs/implementation-artifacts/sprint-status.yaml"  # the smoke install's output_folder
SPRINT = """development_status:
  epic-1: in-progress
  1-1-subtract: done
  1-2-multiply: done
  epic-1-retrospective: optional
  epic-2: in-progress
  2-1-divide: backlog
  epic-2-retrospective: optional
  epic-3: done
  3-1-power: done
  epic-3-retrospective: cancelled
"""


def install() -> dict[str, str | bytes | None]:
    """The smoke install, with a one-step retrospective workflow."""
    files: dict[str, str | bytes | None] = {
        p.relative_to(SMOKE).as_posix(): p.read_text() for p in SMOKE.rglob("*") if p.is_file()
    }
    folder = "_bmad/bmm/workflows/retrospective"
    files[f"{folder}/workflow.md"] = (
        "---\nname: retrospective\ndescription: what the epic taught us\n"
        "nextStep: './steps/step-01-look-back.md'\n---\n# Retrospective\n\nFollow the steps.\n"
    )
    files[f"{folder}/steps/step-01-look-back.md"] = (
        "---\nname: step-01\ndescription: 'Look back'\n"
        "outputFile: '{output_folder}/retrospective.md'\n---\n# Step 1: Look back\n\n"
        "Write what went well and what did not.\n"
    )
    return files


async def test_a_finished_epics_retrospective_runs_once_when_turned_on(stage, tmp_path):
    full = stage.repository.full_name
    await stage.sim.push(stage.repository, by="mona", message="BMAD and the sprint",
                         files={**install(), PATH: SPRINT})  # fmt: skip
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    queue = JobQueue(tmp_path / "jobs.sqlite3")
    await queue.open()
    runner = Runner(queue, stage.data_dir, RunnerLimits(), environ={})  # never started: queued

    def retros() -> Retrospectives:
        starter = Starter(home, lambda: runner, stage.data_dir, MODEL)
        return Retrospectives(home, lambda: runner, starter.default_branch, stage.data_dir, MODEL)

    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, retrospectives=retros())
    data = dict(await stage.place.gh.getitem(f"/repos/{full}"))

    def epic_issue(key: str):
        for issue in stage.repository.issues.values():
            if issue.via_app is not None and f"ao:story:{key} " in (issue.body or ""):
                return issue
        return None

    def run_comments(key: str) -> list[str]:
        issue = epic_issue(key)
        comments = stage.sim.comments_on(stage.repository, issue.number) if issue else []
        return [c.body for c in comments if "ao:run:" in c.body]

    async def passes(sprints: Sprints, times: int = 2) -> None:
        await board.sync(board.repository(stage.installation_id, data))  # it finds the file
        for _ in range(times):
            sprints.wake(stage.installation_id, data)
            await sprints.idle()

    try:
        await passes(sprints)
        assert epic_issue("epic-1") is not None and epic_issue("epic-3") is not None
        assert await queue.listing() == [] and run_comments("epic-1") == []  # off: nothing

        turned_on = {".github/orchestrator.yml": "retrospectives: true\n"}
        await stage.sim.push(stage.repository, by="mona", message="Retros", files=turned_on)
        await passes(sprints)
        await sprints.close()
        await board.close()
        board = BoardSync(home, stage.data_dir)  # a restart: its passes queue nothing more
        sprints = Sprints(board, stage.means, retrospectives=retros())
        await passes(sprints)

        [job] = await queue.listing()
        assert job.key == job_key(full, "epic-1") and job.workflow == "retrospective"
        assert job.home is not None and job.home["issue"] == epic_issue("epic-1").number
        assert len(run_comments("epic-1")) == 1 and "**retrospective**" in run_comments("epic-1")[0]
        assert run_comments("epic-2") == [] and run_comments("epic-3") == []
        assert "epic-1-retrospective: optional" in await stage.on_github("main", PATH)

        # Its run ends done (as the runner records it): the next pass writes it down.
        claimed = await queue.claim("test", lease_s=60, limit=1, per_repository=1, max_attempts=3)
        assert claimed is not None and claimed.lease_token is not None
        await queue.finish(claimed.id, claimed.lease_token, Outcome("done"))
        await sprints.run_finished(claimed, Outcome("done"))  # the runner's hook
        await sprints.idle()
        text = await stage.on_github("main", PATH)
        assert "epic-1-retrospective: done" in text
        assert "epic-2-retrospective: optional" in text  # its stories are not all done
        assert "epic-3-retrospective: cancelled" in text  # a person's: never moved
        await passes(sprints)
        assert len(await queue.listing()) == 1 and len(run_comments("epic-1")) == 1
    finally:
        await sprints.close()
        await board.close()
        await queue.close()
