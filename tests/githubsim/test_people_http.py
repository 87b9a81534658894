"""Acting as people from outside Python: the `/_sim/api` routes and the web view's forms."""

from __future__ import annotations

import re

import aiohttp
import pytest

from githubsim.model import Conflict
from tests.githubsim.test_pulls import call, world

__all__ = ["world"]


async def act(sim, path, body, status=201, **kwargs):
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.url}/_sim/api/octo-org/hello/{path}", json=body, **kwargs) as answer,
    ):
        data = await answer.json(content_type=None)
        assert answer.status == status, data
        return data


async def test_only_an_admin_installs_an_app_on_a_repository(world):
    sim, repository, _session = world
    sim.grant(repository, "mona", "maintain")
    refused = await act(sim, "install", {"as": "mona", "app": "agent-orchestrator"}, 422)
    assert "cannot install Apps" in refused["message"]
    sim.grant(repository, "mona", "admin")
    before = len(sim.state.installations)
    done = await act(sim, "install", {"as": "mona", "app": "agent-orchestrator"})
    assert len(sim.state.installations) == before + 1 and done["installation"]
    await act(sim, "install", {"as": "mona", "app": "no-such-app"}, 404)


async def test_a_person_acts_over_http_as_the_readme_shows(world):
    sim, repository, _session = world
    issue = await act(sim, "issues", {"as": "mona", "title": "Hello", "body": "hi"})
    await act(sim, f"issues/{issue['number']}/comments", {"as": "mona", "body": "/ao help"})
    await act(sim, f"issues/{issue['number']}/labels", {"as": "mona", "name": "bug"})
    pushed = await act(sim, "push", {"as": "mona", "branch": "topic", "files": {"t.md": "t\n"}})
    assert await sim.git.resolve(repository, "topic") == pushed["sha"]
    pull = await act(sim, "pulls", {"as": "mona", "head": "topic", "title": "Topic"})
    sim.grant(repository, "riley", "write")
    own = await act(sim, f"pulls/{pull['number']}/reviews", {"as": "mona", "event": "APPROVE"}, 422)
    assert own["errors"] == ["Review Can not approve your own pull request"]
    await act(sim, f"pulls/{pull['number']}/reviews", {"as": "riley", "event": "APPROVE"})
    merged = await act(sim, f"pulls/{pull['number']}/merge", {"as": "riley", "method": "squash"})
    assert merged["sha"] == await sim.git.resolve(repository, "main")
    await sim.settle()
    seen = [(d.event, d.payload.get("action")) for d in sim.webhooks.deliveries]
    assert ("issue_comment", "created") in seen and ("pull_request", "closed") in seen
    # only JSON: a form posted from another site cannot act as @mona
    async with (
        aiohttp.ClientSession() as other,
        other.post(
            f"{sim.url}/_sim/api/octo-org/hello/issues", data={"as": "mona", "title": "x"}
        ) as answer,
    ):
        assert answer.status == 415


async def test_65536_characters_is_the_limit_on_every_path(world):
    sim, repository, session = world
    issue = sim.open_issue(repository, by="mona", title="t")
    with pytest.raises(Conflict):
        sim.comment(repository, issue.number, by="mona", body="x" * 70_000)
    await act(sim, f"issues/{issue.number}/comments", {"as": "mona", "body": "x" * 70_000}, 422)
    await call(session, "POST", f"issues/{issue.number}/comments", {"body": "x" * 70_000}, 422)
    sim.comment(repository, issue.number, by="mona", body="x" * 65_536)


async def test_the_web_view_shows_a_pull_request_and_its_forms_need_the_csrf_token(world):
    sim, repository, _session = world
    await sim.push(repository, by="mona", files={"README.md": "one\nTWO\nthree\n"}, branch="b")
    pull = await sim.open_pull_request(repository, by="mona", head="b", title="Shout")
    url = f"{sim.url}/_sim/octo-org/hello"
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{url}/pull/{pull.number}") as answer:
            text = await answer.text()
        assert "+TWO" in text and "Shout" in text
        token = re.search(r'name=csrf value="([^"]+)"', text).group(1)
        form = {"action": "comment", "as": "mona", "number": str(pull.number), "body": "hi"}
        async with browser.post(f"{url}/act", data=form, allow_redirects=False) as forged:
            assert forged.status == 403  # no token
        elsewhere = {"Origin": "http://evil.example"}
        async with browser.post(
            f"{url}/act", data={**form, "csrf": token}, headers=elsewhere, allow_redirects=False
        ) as forged:
            assert forged.status == 403
        async with browser.post(
            f"{url}/act", data={**form, "csrf": token}, allow_redirects=False
        ) as posted:
            assert posted.status == 303
            assert posted.headers["Location"].endswith(f"/pull/{pull.number}")
        too_long = {**form, "csrf": token, "body": "x" * 70_000}
        async with browser.post(f"{url}/act", data=too_long, allow_redirects=False) as refused:
            assert refused.status == 422
        async with browser.get(url) as answer:
            assert "git clone" in await answer.text()
        async with browser.get(f"{url}/commit/{pull.head_sha}") as answer:  # html_url of commits
            assert answer.status == 200 and "+TWO" in await answer.text()
    assert [c.body for c in sim.comments_on(repository, pull.number)] == ["hi"]


async def test_the_readmes_curl_examples_work(make_sim, app_private_key, tmp_path):
    """Each `curl` line of the README, sent as written (the check run's id aside)."""
    import json
    from pathlib import Path

    from tests.githubsim.test_git_http import manifest_with

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    lines = re.findall(r"""^curl -H "\$J" \$SIM/(\S+) -d '(.+)'$""", readme, re.MULTILINE)
    assert len(lines) == 8
    sim = await make_sim()
    app = sim.register_app(
        app_id=31337,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=manifest_with(tmp_path),
    )
    repository = sim.create_repository("demo-org/todo-app")
    sim.install(app, [repository], by="demo-org")
    sim.grant(repository, "mona", "admin")
    sim.grant(repository, "riley", "write")
    await sim.push(repository, by="mona", files={"README.md": "todo\n"})
    run = await sim.checks.create(
        repository,
        app,
        {
            "name": "orchestrator",
            "head_sha": await sim.git.resolve(repository, "main"),
            "conclusion": "neutral",
            "actions": [{"label": "Pause", "description": "Pause", "identifier": "pause"}],
        },
    )
    async with aiohttp.ClientSession() as session:
        for path, body in lines:
            url = f"{sim.url}/_sim/api/demo-org/todo-app/{path.replace('1234', str(run.id))}"
            async with session.post(url, json=json.loads(body)) as answer:
                assert answer.status == 201, (path, await answer.text())
    await sim.settle()
    assert repository.issues[2].pull.merged_at is not None
    pressed = [d for d in sim.webhooks.deliveries if d.payload.get("action") == "requested_action"]
    assert pressed[0].payload["requested_action"] == {"identifier": "pause"}
