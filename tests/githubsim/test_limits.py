"""GitHub's limits as GitHub enforces them: content creation throttled, drafts by plan."""

from __future__ import annotations

import aiohttp
import pytest

from githubsim.model import Conflict


async def test_content_creation_is_throttled_with_a_secondary_rate_limit(make_sim):
    sim = await make_sim(content_per_minute=3)
    repository = sim.create_repository("octo-org/hello")
    issue = sim.open_issue(repository, by="octo-org", title="t")
    url = f"{sim.url}/repos/octo-org/hello/issues/{issue.number}/comments"
    headers = {"Authorization": f"token {sim.user_token('octo-org')}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        statuses = []
        for n in range(4):
            async with session.post(url, json={"body": f"c{n}"}) as answer:
                statuses.append(answer.status)
                if answer.status == 403:
                    assert answer.headers["Retry-After"] == "60"
                    assert "secondary rate limit" in (await answer.json())["message"]
        assert statuses == [201, 201, 201, 403]
        async with session.get(url) as answer:  # reading is not content creation
            assert answer.status == 200


@pytest.mark.parametrize(
    ("private", "plan", "allowed"),
    [(False, "free", True), (True, "free", False), (True, "team", True)],
)
async def test_draft_pull_requests_follow_the_plan(make_sim, private, plan, allowed):
    sim = await make_sim()
    repository = sim.create_repository("octo-org/hello", private=private, plan=plan)
    await sim.push(repository, by="octo-org", files={"a": "a"})
    await sim.push(repository, by="octo-org", files={"b": "b"}, branch="wip")
    if allowed:
        pull = await sim.open_pull_request(repository, by="octo-org", head="wip", draft=True)
        assert pull.draft
    else:
        with pytest.raises(Conflict) as refused:
            await sim.open_pull_request(repository, by="octo-org", head="wip", draft=True)
        assert "Draft pull requests are not supported" in str(refused.value.errors)
