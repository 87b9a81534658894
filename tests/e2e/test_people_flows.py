"""What a person does on GitHub, and what they then see there."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.github.labels import STORY_LABELS
from githubsim.model import DEFAULT_LABELS
from tests.support import sign

pytestmark = pytest.mark.slow


async def test_installing_the_app_creates_the_story_labels_once(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    wanted = {label.name for label in STORY_LABELS}
    await world.until(lambda: wanted <= {lb.name for lb in world.repository.labels.values()})
    await world.quiet()
    names = [lb.name for lb in world.repository.labels.values()]
    assert sorted(names) == sorted(wanted | {name for name, _, _ in DEFAULT_LABELS})
    created = [
        d for d in world.sim.webhooks.deliveries if (d.event, d.action) == ("label", "created")
    ]
    assert len(created) == len(STORY_LABELS)
    assert all(d.payload["sender"]["login"] == "agent-orchestrator[bot]" for d in created)


async def test_help_from_a_maintainer_is_answered_once(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="How do I start?")
    asked = world.sim.comment(world.repository, issue.number, by="maya", body="/ao help")
    await world.until(lambda: world.bot_comments(issue.number))
    await world.quiet()
    [answer] = world.bot_comments(issue.number)
    assert "/ao help" in answer.body and "/ao ping" in answer.body
    assert answer.via_app is world.app
    assert [(r.user.login, r.content) for r in asked.reactions] == [
        ("agent-orchestrator[bot]", "eyes")
    ]


async def test_a_read_only_user_is_refused_once(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="rita", title="Please run it")
    world.sim.comment(world.repository, issue.number, by="rita", body="/ao help")
    await world.until(lambda: world.bot_comments(issue.number))
    world.sim.comment(world.repository, issue.number, by="rita", body="/ao ping")
    await world.quiet()
    [refusal] = world.bot_comments(issue.number)
    assert "@rita" in refusal.body and "write access" in refusal.body
    assert "/ao ping" not in refusal.body  # no command ran for her


async def test_a_forged_delivery_is_rejected_and_nothing_happens(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="Forged")
    await world.quiet()
    real = next(d for d in world.sim.webhooks.deliveries if d.event == "issues")
    payload = {
        **real.payload,
        "action": "created",
        "comment": {
            "id": 1,
            "body": "/ao help",
            "user": {"login": "maya", "id": 7, "type": "User"},
            "url": "x",
            "created_at": "2026-01-01T00:00:00Z",
        },
    }
    body = json.dumps(payload).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{world.bot_url}/webhooks",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": "forged-1",
                "X-Hub-Signature-256": sign(body, "not-the-secret"),
            },
        ) as response,
    ):
        assert response.status == 401
    await world.quiet()
    assert world.bot_comments(issue.number) == []


async def test_a_duplicated_delivery_is_handled_once(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="Twice?")
    await world.quiet()
    world.sim.webhooks.faults.duplicate_rate = 1.0
    world.sim.comment(world.repository, issue.number, by="maya", body="/ao help")
    await world.until(lambda: world.bot_comments(issue.number))
    await world.quiet()
    comment_deliveries = [
        d
        for d in world.sim.webhooks.deliveries
        if d.event == "issue_comment" and d.payload["comment"]["body"] == "/ao help"
    ]
    assert comment_deliveries[0].attempts == 2  # GitHub sent it twice
    assert len(world.bot_comments(issue.number)) == 1


async def test_reordered_deliveries_are_each_handled_once(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="Out of order")
    await world.quiet()
    world.sim.webhooks.faults.reorder_rate = 1.0
    world.sim.comment(world.repository, issue.number, by="maya", body="/ao help")
    world.sim.comment(world.repository, issue.number, by="maya", body="/ao ping")
    await world.until(lambda: len(world.bot_comments(issue.number)) >= 2)
    await world.quiet()
    answers = [c.body for c in world.bot_comments(issue.number)]
    assert len(answers) == 2
    assert sum("pong" in a for a in answers) == 1
    assert sum("/ao help" in a and "pong" not in a for a in answers) == 1


async def test_github_failing_for_a_moment_still_gives_one_answer(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="Flaky GitHub")
    await world.quiet()
    world.sim.faults.fail_when("POST", "/reactions", 403)  # a secondary rate limit
    world.sim.faults.fail_when("POST", f"/issues/{issue.number}/comments", 502)
    asked = world.sim.comment(world.repository, issue.number, by="maya", body="/ao ping")
    await world.until(lambda: world.bot_comments(issue.number))
    await world.quiet()
    assert len(world.bot_comments(issue.number)) == 1
    assert len(asked.reactions) == 1
    statuses = [status for method, _, status in world.sim.calls if method == "POST"]
    assert 403 in statuses and 502 in statuses  # both faults really happened


async def test_a_dropped_delivery_is_answered_once_github_redelivers_it(world):
    world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="Lost in transit")
    await world.quiet()
    world.sim.webhooks.faults.drop_rate = 1.0
    world.sim.comment(world.repository, issue.number, by="maya", body="/ao help")
    await world.quiet()
    assert world.bot_comments(issue.number) == []  # it never arrived
    world.sim.webhooks.faults.drop_rate = 0.0
    dropped = world.sim.webhooks.deliveries[-1]
    await world.sim.webhooks.redeliver(dropped.id)  # the owner presses "Redeliver"
    await world.sim.webhooks.redeliver(dropped.id)  # twice
    await world.until(lambda: world.bot_comments(issue.number))
    await world.quiet()
    assert len(world.bot_comments(issue.number)) == 1


async def test_after_uninstalling_the_bot_hears_nothing(world):
    installation = world.sim.install(world.app, [world.repository], by="octo-org")
    issue = world.sim.open_issue(world.repository, by="maya", title="Goodbye")
    await world.quiet()
    world.sim.uninstall(installation, by="octo-org")
    await world.quiet()
    world.sim.comment(world.repository, issue.number, by="maya", body="/ao ping")
    await world.quiet()
    assert world.bot_comments(issue.number) == []
    assert world.sim.webhooks.deliveries[-1].event == "installation"  # nothing sent after it
