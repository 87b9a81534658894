"""`/ao` commands from a comment to exactly one answer, with permissions and loop guards.

The handlers run against the GitHub stand-in: the deliveries are the ones it sends when a
person comments, and what the test checks is what that person would then see on the issue.
"""

from __future__ import annotations

import pytest
from gidgethub import GitHubBroken

from bot.commands.parse import Command, find_command


@pytest.fixture
async def issue(hub):
    hub.sim.install(hub.app, [hub.repository], by="octo-org")
    return hub.sim.open_issue(hub.repository, by="maya", title="Questions")


@pytest.fixture
def say(hub, issue):
    """A person comments on the issue; returns the comment and the delivery GitHub sends."""

    def say(body: str, *, by: str = "maya"):
        comment = hub.sim.comment(hub.repository, issue.number, by=by, body=body)
        return comment, hub.last("issue_comment", "created")

    return say


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/ao ping", Command("ping", ())),
        ("Thanks!\n  /ao help me please\nmore", Command("help", ("me", "please"))),
        ("/AO PING", None),
        ("/ao", Command("", ())),
        ("/aolist", None),
        ("please run /ao ping", None),
        ("> /ao ping", None),
        ("```\n/ao ping\n```", None),
        ("~~~md\n/ao ping\n~~~\n/ao help", Command("help", ())),
        ("    /ao ping", None),
        ("text\r\n/ao ping\r\n", Command("ping", ())),
    ],
)
def test_find_command(body, expected):
    assert find_command(body) == expected


async def test_ping_gets_eyes_and_exactly_one_answer_even_when_redelivered(hub, issue, say):
    comment, delivery = say("/ao ping")
    await hub.dispatch(delivery, "same-delivery")
    await hub.dispatch(delivery, "same-delivery")  # GitHub redelivers it
    [answer] = hub.bot_comments(issue.number)
    assert answer.startswith("pong, @maya")
    assert f"<!-- ao:answer:{comment.id} -->" in answer
    assert [(r.user.login, r.content) for r in comment.reactions] == [
        ("agent-orchestrator[bot]", "eyes")
    ]


async def test_a_failure_between_eyes_and_answer_is_finished_by_the_next_attempt(hub, issue, say):
    comment, delivery = say("/ao help")
    hub.sim.faults.fail_when("POST", f"/issues/{issue.number}/comments", 502, times=4)
    with pytest.raises(GitHubBroken):  # retried in the client, then the attempt fails
        await hub.dispatch(delivery)
    assert hub.slept == [1.0, 2.0, 4.0]
    assert hub.bot_comments(issue.number) == []
    await hub.dispatch(delivery)  # the dispatcher's next attempt
    [answer] = hub.bot_comments(issue.number)
    assert "| `/ao ping` |" in answer
    assert len(comment.reactions) == 1  # 👀 once, although added twice


async def test_an_answer_marker_counts_only_in_the_apps_own_comments(hub, issue, say):
    comment, delivery = say("/ao ping")
    say(f"nice try <!-- ao:answer:{comment.id} -->", by="mallory")  # a person typed it
    await hub.dispatch(delivery)
    assert len(hub.bot_comments(issue.number)) == 1

    second, again = say("/ao ping")
    hub.sim.state.create_comment(
        hub.repository,
        hub.app.bot,
        issue,
        f"earlier answer <!-- ao:answer:{second.id} -->",
        via_app=hub.app,
    )
    await hub.dispatch(again)  # the App's earlier answer is found: nothing new
    assert len(hub.bot_comments(issue.number)) == 2


async def test_people_without_write_access_get_one_short_refusal_per_issue(hub, issue, say):
    hub.sim.grant(hub.repository, "rita", "read")
    first, ping = say("/ao ping", by="rita")
    second, help_ = say("/ao help", by="rita")
    await hub.dispatch(ping)
    await hub.dispatch(help_)
    [refusal] = hub.bot_comments(issue.number)
    assert refusal.startswith("@rita, only people with write access")
    assert first.reactions == second.reactions == []  # nothing acknowledged, nothing run


async def test_bots_and_the_app_itself_are_never_obeyed(hub, issue, say):
    hub.sim.state.user("renovate[bot]", type="Bot")
    _, from_a_bot = say("/ao ping", by="renovate[bot]")
    hub.sim.state.create_comment(hub.repository, hub.app.bot, issue, "/ao ping", via_app=hub.app)
    from_itself = hub.last("issue_comment", "created")
    before = len(hub.sim.calls)
    await hub.dispatch(from_a_bot)
    await hub.dispatch(from_itself)
    assert len(hub.sim.calls) == before  # not a single request


async def test_comments_without_a_command_cost_no_request(hub, say):
    deliveries = [say(body)[1] for body in ("> /ao ping\nquoting", "```\n/ao ping\n```", "LGTM")]
    before = len(hub.sim.calls)
    for delivery in deliveries:
        await hub.dispatch(delivery)
    assert len(hub.sim.calls) == before


async def test_unknown_and_malformed_commands_are_explained(hub, issue, say):
    await hub.dispatch(say("/ao frobnicate`<script>`")[1])
    await hub.dispatch(say("/ao ping twice")[1])
    first, second = hub.bot_comments(issue.number)
    assert "I don't know `/ao frobnicatescript`" in first and "| `/ao help` |" in first
    assert "`/ao ping` takes no arguments" in second


async def test_permission_is_asked_once_for_a_burst_of_commands(hub, issue, say):
    for _ in range(3):
        await hub.dispatch(say("/ao ping")[1])
    assert len(hub.bot_comments(issue.number)) == 3
    assert hub.calls("GET", "/permission") == 1
