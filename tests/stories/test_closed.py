"""A story pull request closed without merging, on the local GitHub: the story's work stops
(the developer's task cancelled mid-attempt), its issue gets `story: blocked` and one comment
saying who closed it; more passes and a restart start nothing and say nothing again, and no
second pull request opens. Reopening (by a person, or `/ao retry`, which puts a deleted branch
back first) resumes the story to its merge; its epic's status follows its stories."""

from __future__ import annotations

from bot.commands.parse import Command
from bot.commands.registry import CommandRequest
from bot.project.board_sync import BoardSync
from bot.project.location import DEFAULT
from bot.runs.github_home import GitHubHome
from bot.stories.sprints import Sprints
from tests.stories.project import TEST_COMMAND
from tests.stories.test_sprint import FUNCTIONS, script
from tests.stories.test_sprints import until
from tests.support import APP_ID

KEY = "1-1-subtract"
SPRINT = (
    "development_status:\n  epic-1: backlog\n  1-1-subtract: ready-for-dev\n"
    "  epic-1-retrospective: optional\n"
)
CONFIG = f"sandbox:\n  test: {TEST_COMMAND}\ndeveloper:\n  iterations: 3\n"


async def _setup(stage):
    await stage.sim.push(
        stage.repository, by="mona", message="The sprint",
        files={DEFAULT: SPRINT, ".github/orchestrator.yml": CONFIG},
    )  # fmt: skip
    home = GitHubHome(stage.clients, stage.data_dir, APP_ID)
    data = dict(await stage.place.gh.getitem(f"/repos/{stage.repository.full_name}"))
    return home, data


class _Story:
    """What a person sees of the story on GitHub."""

    def __init__(self, stage) -> None:
        self.stage = stage

    def issue(self):
        for issue in self.stage.repository.issues.values():
            mine = issue.via_app is not None and issue.pull is None
            if mine and f"ao:story:{KEY} " in (issue.body or ""):
                return issue
        return None

    def labels(self) -> list[str]:
        issue = self.issue()
        labels = self.stage.repository.labels
        return [] if issue is None else [labels[i].name for i in issue.labels]

    def closings(self) -> list[str]:
        issue = self.issue()
        bodies = [] if issue is None else [c.body for c in self.stage.sim.comments_on(
            self.stage.repository, issue.number)]  # fmt: skip
        return [b for b in bodies if "ao:pr-closed:" in b]

    def pulls(self):
        return [p for p in self.stage.sim.pulls.of(self.stage.repository)
                if p.head_ref == f"story/{KEY}"]  # fmt: skip

    def reviewed(self):
        for pull in self.pulls():
            runs = self.stage.sim.checks.runs_for(self.stage.repository, pull.head_sha)
            done = {r.name for r in runs if r.status == "completed"}
            if pull.state == "open" and not pull.draft and {"ao/review", "ci"} <= done:
                return pull
        return None


async def _file(stage) -> str:
    return await stage.on_github("main", DEFAULT)


async def test_a_closed_pull_request_stops_the_story_and_reopening_resumes_it(stage):
    home, data = await _setup(stage)
    story = _Story(stage)
    wrong = script("subtract", "a + b", "5, 3", "2")[0]
    stage.model.scripts[KEY] = [wrong, *script(*FUNCTIONS[KEY])]
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.3)

    async def close_once_it_is_open() -> None:  # mona, during the developer's second attempt
        pulls = story.pulls()
        if not pulls or "attempt 2 of" not in str(stage.model.requests[-1]):
            stage.model.meanwhile.append(close_once_it_is_open)
            return
        stage.sim.close(stage.repository, pulls[0].number, by="mona")
        sprints.wake(stage.installation_id, data)  # what the pull request's webhook does

    stage.model.meanwhile.append(close_once_it_is_open)
    try:
        board.wake(stage.installation_id, data)
        await until(lambda: _true(bool(story.closings())))
        await sprints.idle()
        assert "story: blocked" in story.labels()
        [said] = story.closings()
        assert "@mona closed pull request" in said and "/ao retry" in said
        [pull] = story.pulls()
        assert pull.state == "closed" and pull.merged_at is None
        text = await _file(stage)
        assert f"{KEY}: in-progress" in text and "epic-1: in-progress" in text  # epic started
        asked = len(stage.model.requests)
        for _ in range(2):  # more passes start nothing, say nothing again
            sprints.wake(stage.installation_id, data)
            await sprints.idle()
        assert len(stage.model.requests) == asked
        await sprints.close()
        await board.close()

        # A restart: a new reconciler reads the closing from GitHub and holds the story still.
        board = BoardSync(home, stage.data_dir)
        sprints = Sprints(board, stage.means, again_s=0.3)
        sprints.wake(stage.installation_id, data)
        await sprints.idle()
        assert len(stage.model.requests) == asked and len(story.closings()) == 1
        assert len(story.pulls()) == 1 and "story: blocked" in story.labels()

        stage.sim.reopen(stage.repository, pull.number, by="mona")
        sprints.wake(stage.installation_id, data)
        await until(lambda: _true(story.reviewed() is not None))
        assert "story: blocked" not in story.labels()
        [said] = story.closings()
        assert "is open again" in said
        reviewed = story.reviewed()
        assert reviewed is not None and reviewed.number == pull.number
        await stage.sim.settle()
        await stage.sim.review(stage.repository, pull.number, by="mona", event="APPROVE")
        sprints.wake(stage.installation_id, data)
        await until(lambda: _true(pull.merged_at is not None))
        await until(lambda: _has_line(stage, "epic-1: done"))
    finally:
        await sprints.close()
        await board.close()
    text = await _file(stage)
    assert f"{KEY}: done" in text and "epic-1-retrospective: optional" in text  # off: untouched
    assert len(story.pulls()) == 1 and len(story.closings()) == 1


async def test_a_retry_reopens_a_closed_pull_request_whose_branch_was_deleted(stage):
    home, data = await _setup(stage)
    story = _Story(stage)
    stage.model.scripts[KEY] = script(*FUNCTIONS[KEY])
    board = BoardSync(home, stage.data_dir)
    sprints = Sprints(board, stage.means, again_s=0.3)
    full = stage.repository.full_name
    try:
        board.wake(stage.installation_id, data)
        await until(lambda: _true(story.reviewed() is not None))  # waits for a person
        pull = story.reviewed()
        assert pull is not None
        stage.sim.close(stage.repository, pull.number, by="mona")
        async with stage.session.delete(  # mona deletes the branch, as GitHub's button offers
            f"{stage.sim.url}/repos/{full}/git/refs/heads/story/{KEY}",
            headers={"Authorization": f"token {stage.sim.user_token('mona')}"},
        ) as response:
            assert response.status == 204
        sprints.wake(stage.installation_id, data)
        await until(lambda: _true(bool(story.closings())))
        await sprints.idle()
        assert "story: blocked" in story.labels() and f"{KEY}: review" in await _file(stage)

        issue = story.issue()
        request = CommandRequest(Command("retry", ()), "mona", full, issue.number, "d1", "",
                                 installation_id=stage.installation_id)  # fmt: skip
        said = await sprints.retry(request)
        assert said is not None and f"pull request #{pull.number} is reopened" in said
        assert pull.state == "open"
        restored = await stage.sim.git.git(stage.repository, "rev-parse", f"story/{KEY}")
        assert restored.strip() == pull.head_sha
        await until(lambda: _true("story: blocked" not in story.labels()))
        await stage.sim.settle()
        await stage.sim.review(stage.repository, pull.number, by="mona", event="APPROVE")
        sprints.wake(stage.installation_id, data)
        await until(lambda: _true(pull.merged_at is not None))
    finally:
        await sprints.close()
        await board.close()
    assert len(story.pulls()) == 1 and "is open again" in story.closings()[0]


async def _true(value: bool) -> bool:
    return value


async def _has_line(stage, line: str) -> bool:
    return line in await _file(stage)
