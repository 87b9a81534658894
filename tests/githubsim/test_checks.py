"""Check runs with buttons, commit statuses, and the repository's own CI failing then passing."""

from __future__ import annotations

import aiohttp
import pytest

from githubsim.checks import CheckRefused
from tests.githubsim.test_pulls import call, world

__all__ = ["world"]

BUTTONS = [
    {"label": "Pause", "description": "Pause the run", "identifier": "pause"},
    {"label": "Resume", "description": "Resume the run", "identifier": "resume"},
]


async def test_a_check_run_is_created_completed_and_its_buttons_pressed(world):
    sim, repository, session = world
    sha = await sim.git.resolve(repository, "main")
    run = await call(
        session,
        "POST",
        "check-runs",
        {"name": "orchestrator", "head_sha": sha, "status": "in_progress"},
        201,
    )
    with pytest.raises(CheckRefused, match="completed"):  # buttons show on completed runs
        sim.press_button(repository, run["id"], "pause", by="mona")
    done = await call(
        session,
        "PATCH",
        f"check-runs/{run['id']}",
        {"conclusion": "neutral", "actions": BUTTONS, "output": {"title": "t", "summary": "s"}},
    )
    assert done["status"] == "completed" and done["conclusion"] == "neutral"
    sim.grant(repository, "riley", "read")
    with pytest.raises(CheckRefused, match="write access"):
        sim.press_button(repository, run["id"], "pause", by="riley")
    sim.press_button(repository, run["id"], "resume", by="mona")
    sim.rerequest(repository, run["id"], by="mona")
    listed = await call(session, "GET", f"commits/{sha}/check-runs")
    assert [r["id"] for r in listed["check_runs"]] == [run["id"]]
    await sim.settle()
    runs = [d.payload for d in sim.webhooks.deliveries if d.event == "check_run"]
    assert [p["action"] for p in runs] == [
        "created",
        "completed",
        "requested_action",
        "rerequested",
    ]
    assert runs[2]["requested_action"] == {"identifier": "resume"}
    assert runs[2]["sender"]["login"] == "mona"
    async with aiohttp.ClientSession() as browser, browser.get(done["html_url"]) as page:
        text = await page.text()  # the run's page, its buttons pressable (completed)
    assert page.status == 200 and "Resume" in text and "name=csrf" in text


def test_buttons_are_held_to_githubs_limits():
    from githubsim.checks import check_actions

    assert check_actions(BUTTONS) == BUTTONS
    with pytest.raises(CheckRefused, match="Only 3"):
        check_actions([*BUTTONS, *BUTTONS])
    for key, limit in (("label", 20), ("description", 40), ("identifier", 20)):
        with pytest.raises(CheckRefused, match=key):
            check_actions([{**BUTTONS[0], key: "x" * (limit + 1)}])


async def test_too_many_buttons_are_refused_over_rest(make_sim, app_private_key, tmp_path):
    from tests.githubsim.test_git_http import manifest_with

    sim = await make_sim(conformance_failures_expected=True)
    app = sim.register_app(
        app_id=31337,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=manifest_with(tmp_path),
    )
    repository = sim.create_repository("octo-org/hello")
    installation = sim.install(app, [repository], by="octo-org")
    sha = await sim.push(repository, by="octo-org", files={"a": "a"})

    token = sim.auth.installation_token(installation).value
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/", headers={"Authorization": f"token {token}"}
    ) as session:
        four = {"name": "x", "head_sha": sha, "actions": [*BUTTONS, *BUTTONS]}
        await call(session, "POST", "check-runs", four, 422)
    assert [v.where for v in sim.violations] == ["request"]


async def test_people_cannot_create_check_runs(world):
    sim, repository, _session = world
    sim.state.apps[31337].events.append("status")  # subscribed, to hear the statuses

    sha = await sim.git.resolve(repository, "main")
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {sim.user_token('octo-org')}"},
    ) as owner:
        await call(owner, "POST", "check-runs", {"name": "x", "head_sha": sha}, 403)
        await call(owner, "POST", f"statuses/{sha}", {"state": "failure", "context": "a"}, 201)
        await call(owner, "POST", f"statuses/{sha}", {"state": "success", "context": "b"}, 201)
        combined = await call(owner, "GET", f"commits/{sha}/status")
        assert combined["state"] == "failure" and combined["total_count"] == 2
        await call(owner, "POST", f"statuses/{sha}", {"state": "success", "context": "a"}, 201)
        assert (await call(owner, "GET", f"commits/{sha}/status"))["state"] == "success"
        assert len(await call(owner, "GET", f"commits/{sha}/statuses")) == 3
    await sim.settle()
    statuses = [d.payload for d in sim.webhooks.deliveries if d.event == "status"]
    assert [(p["context"], p["state"]) for p in statuses] == [
        ("a", "failure"),
        ("b", "success"),
        ("a", "success"),
    ]
    assert statuses[0]["branches"][0]["name"] == "main" and statuses[0]["commit"]["sha"] == sha


async def test_the_repositorys_ci_fails_then_passes_on_a_new_push(world):
    sim, repository, session = world
    sim.set_ci(repository, "test -f fixed.txt && echo all good || (echo missing; exit 3)")
    await sim.push(repository, by="mona", files={"story.md": "x\n"}, branch="story")
    pull = await sim.open_pull_request(repository, by="mona", head="story")
    await sim.settle()
    first = await call(session, "GET", f"commits/{pull.head_sha}/check-runs")
    assert [(r["name"], r["conclusion"]) for r in first["check_runs"]] == [("ci", "failure")]
    assert "missing" in first["check_runs"][0]["output"]["text"]
    # statuses need the "Commit statuses" permission, which our App does not ask for: a person
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {sim.user_token('mona')}"},
    ) as mona:
        assert (await call(mona, "GET", f"commits/{pull.head_sha}/status"))["state"] == "failure"
        await call(session, "GET", f"commits/{pull.head_sha}/status", status=403)
    fixed = await sim.push(repository, by="mona", files={"fixed.txt": "ok\n"}, branch="story")
    await sim.settle()
    second = await call(session, "GET", f"commits/{fixed}/check-runs")
    assert [r["conclusion"] for r in second["check_runs"]] == ["success"]
    assert second["check_runs"][0]["pull_requests"][0]["number"] == pull.number
    async with aiohttp.ClientSession(
        base_url=sim.url + "/repos/octo-org/hello/",
        headers={"Authorization": f"token {sim.user_token('mona')}"},
    ) as mona:
        assert (await call(mona, "GET", f"commits/{fixed}/status"))["state"] == "success"
    completed = [
        d.payload["check_run"]["conclusion"]
        for d in sim.webhooks.deliveries
        if d.event == "check_run" and d.payload["action"] == "completed"
    ]
    assert completed == ["failure", "success"]  # the bot hears the CI's verdicts
    suites = [d.payload["check_suite"] for d in sim.webhooks.deliveries if d.event == "check_suite"]
    assert [(s["conclusion"], s["head_branch"]) for s in suites] == [
        ("failure", "story"),
        ("success", "story"),
    ]
    assert suites[1]["pull_requests"][0]["number"] == pull.number
    # pushes to branches without an open pull request are not checked
    other = await sim.push(repository, by="mona", files={"z": "z"}, branch="lonely")
    await sim.settle()
    assert (await call(session, "GET", f"commits/{other}/check-runs"))["total_count"] == 0


async def test_a_ci_command_that_runs_too_long_times_out(world):
    sim, repository, session = world
    sim.set_ci(repository, "sleep 30")
    sim.ci.timeout_s = 0.3
    await sim.push(repository, by="mona", files={"slow.md": "x\n"}, branch="slow")
    pull = await sim.open_pull_request(repository, by="mona", head="slow")
    await sim.settle()
    runs = await call(session, "GET", f"commits/{pull.head_sha}/check-runs")
    assert [r["conclusion"] for r in runs["check_runs"]] == ["timed_out"]
