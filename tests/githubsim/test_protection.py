"""Branch protection over REST: force pushes and deletions refused by git, required checks
holding a merge until the repository's CI passes."""

from __future__ import annotations

import aiohttp
import pytest

from githubsim.people_git import PushRefused, authenticated_url
from tests.githubsim.test_git_http import git, run
from tests.githubsim.test_pulls import call, world

__all__ = ["world"]


async def test_protection_is_set_read_and_removed_by_an_admin(world, tmp_path):
    sim, repository, app_session = world
    rules = {
        "required_status_checks": {"strict": False, "contexts": ["ci"]},
        "enforce_admins": True,
        "required_pull_request_reviews": None,
        "restrictions": None,
    }
    await call(app_session, "PUT", "branches/main/protection", rules, 403)  # no administration
    await sim.push(repository, by="mona", files={"o": "o"}, branch="old")  # forks off main
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {sim.user_token('octo-org')}"},
    ) as owner:
        await call(owner, "GET", "branches/main/protection", status=404)
        answer = await call(owner, "PUT", "branches/main/protection", rules)
        assert answer["required_status_checks"]["contexts"] == ["ci"]
        assert "required_pull_request_reviews" not in answer
        assert (await call(owner, "GET", "branches/main"))["protected"] is True

        # no reviews required: a direct push is fine, a force push and a deletion are not
        await sim.push(repository, by="mona", files={"direct.md": "ok\n"})
        with pytest.raises(PushRefused, match="Cannot force-push to this branch"):
            await sim.push(repository, by="mona", files={"x": "x"}, from_branch="old", force=True)
        git("init", "-q", str(tmp_path / "empty"))
        url = authenticated_url(sim.url, repository, "mona", sim.user_token("mona"))
        deleted = await run("push", url, ":refs/heads/main", cwd=tmp_path / "empty")
        assert "Cannot delete this protected branch" in deleted.stderr
        await call(owner, "DELETE", "git/refs/heads/main", status=422)

        # required checks: the merge waits for the repository's CI
        sim.set_ci(repository, "test -f passing")
        await sim.push(repository, by="mona", files={"f.md": "f\n"}, branch="feature")
        pull = await sim.open_pull_request(repository, by="mona", head="feature")
        await sim.settle()
        refused = await call(app_session, "PUT", f"pulls/{pull.number}/merge", {}, 405)
        assert refused["message"] == 'Required status check "ci" is expected.'
        await sim.push(repository, by="mona", files={"passing": "yes\n"}, branch="feature")
        await sim.settle()
        await call(app_session, "PUT", f"pulls/{pull.number}/merge", {})

        await call(owner, "DELETE", "branches/main/protection", status=204)
        await call(owner, "GET", "branches/main/protection", status=404)
