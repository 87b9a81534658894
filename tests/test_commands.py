"""`/ao` commands from a comment to exactly one answer, with permissions and loop guards."""

from __future__ import annotations

import copy

import pytest
from gidgethub import GitHubBroken

from bot.commands.parse import Command, find_command
from tests.fake_github import BOT, FakeGitHub
from tests.support import webhook_examples


@pytest.fixture(scope="module")
def comment_example() -> dict:
    return next(
        p
        for name, p in webhook_examples()
        if name == "issue_comment" and p["action"] == "created" and "installation" in p
    )


@pytest.fixture
def gh(fake_github) -> FakeGitHub:
    fake_github.gh.permissions["Codertocat"] = "maintain"
    return fake_github.gh


@pytest.fixture
def deliver(dispatch, gh, comment_example):
    counter = iter(range(1, 1000))

    async def deliver(body: str, *, user: dict | None = None, delivery_id: str | None = None,
                      comment_id: int | None = None):  # fmt: skip
        payload = copy.deepcopy(comment_example)
        payload["comment"]["body"] = body
        if comment_id is not None:
            payload["comment"]["id"] = comment_id
        if user is not None:
            payload["comment"]["user"] = user
            payload["sender"] = user
        await dispatch("issue_comment", payload, delivery_id or f"d-{next(counter)}")
        return payload

    return deliver


def comments_url(payload) -> str:
    return payload["issue"]["comments_url"]


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


async def test_ping_gets_eyes_and_exactly_one_answer_even_when_redelivered(deliver, gh):
    payload = await deliver("/ao ping", delivery_id="same-delivery")
    await deliver("/ao ping", delivery_id="same-delivery")  # GitHub redelivers it
    [answer] = gh.posted(comments_url(payload))
    assert answer.startswith("pong, @Codertocat")
    assert f"<!-- ao:answer:{payload['comment']['id']} -->" in answer
    assert gh.reactions[0] == (payload["comment"]["url"], "eyes")


async def test_a_crash_between_eyes_and_answer_is_finished_by_the_retry(deliver, gh):
    gh.fail_next[("POST", "/issues/1/comments")] = 502
    with pytest.raises(GitHubBroken):  # the dispatcher records a failed attempt and retries
        await deliver("/ao help", delivery_id="flaky")
    payload = await deliver("/ao help", delivery_id="flaky")
    [answer] = gh.posted(comments_url(payload))
    assert "| `/ao ping` |" in answer


async def test_an_answer_marker_counts_only_in_the_apps_own_comments(deliver, gh, comment_example):
    url = comment_example["issue"]["comments_url"]
    mark = f"<!-- ao:answer:{comment_example['comment']['id']} -->"
    gh.add_comment(url, f"nice try {mark}", by_app=False)  # a person typed the marker
    await deliver("/ao ping")
    assert len(gh.posted(url)) == 1
    gh.add_comment(url, f"earlier answer {mark}", by_app=True)
    gh.comments[url] = [c for c in gh.comments[url] if "pong" not in c["body"]]
    await deliver("/ao ping")  # the App's earlier answer is found: nothing new
    assert [b for b in gh.posted(url) if "pong" in b] == []


async def test_people_without_write_access_get_one_short_refusal_per_issue(deliver, gh):
    reader = {"login": "passerby", "id": 555, "type": "User"}
    payload = await deliver("/ao ping", user=reader)
    await deliver("/ao help", user=reader)
    [refusal] = gh.posted(comments_url(payload))
    assert refusal.startswith("@passerby, only people with write access")
    assert gh.reactions == []  # nothing acknowledged, nothing run


async def test_bots_and_the_app_itself_are_never_obeyed(deliver, gh):
    await deliver("/ao ping", user=BOT)
    await deliver("/ao ping", user={"login": "renovate[bot]", "id": 2, "type": "Bot"})
    assert gh.requests == []


async def test_comments_without_a_command_cost_no_request(deliver, gh):
    await deliver("> /ao ping\nquoting someone")
    await deliver("```\n/ao ping\n```")
    await deliver("Looks good to me")
    assert gh.requests == []


async def test_unknown_and_malformed_commands_are_explained(deliver, gh):
    payload = await deliver("/ao frobnicate`<script>`")
    await deliver("/ao ping twice", delivery_id="other", comment_id=777)
    first, second = gh.posted(comments_url(payload))[-2:]
    assert "I don't know `/ao frobnicatescript`" in first and "| `/ao help` |" in first
    assert "`/ao ping` takes no arguments" in second


async def test_permission_is_asked_once_for_a_burst_of_commands(deliver, gh):
    for n in range(3):
        await deliver("/ao ping", comment_id=1000 + n)
    assert sum("/permission" in url for _, url in gh.requests) == 1
