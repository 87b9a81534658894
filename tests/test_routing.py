"""Routes are by event and action, so the dispatcher knows without parsing who wants what."""

from __future__ import annotations

import pytest
from gidgethub import routing

from bot.intake.routing import EventRouter, only_if_payload_mentions
from bot.settings import Settings
from bot.web.app import create_app


async def noop(event, *, ctx) -> None:
    return None


def test_handles_matches_event_and_action():
    plain = routing.Router()
    plain.add(noop, "issue_comment", action="created")
    plain.add(noop, "ping")
    router = EventRouter(plain)
    assert router.handles("issue_comment", "created")
    assert not router.handles("issue_comment", "deleted")
    assert not router.handles("issue_comment", None)
    assert router.handles("ping", None)
    assert not router.handles("push", None)


def test_routes_on_other_payload_keys_are_refused_when_the_app_is_built():
    plain = routing.Router()
    plain.add(noop, "push", ref="refs/heads/main")
    with pytest.raises(ValueError, match="only `action` is supported"):
        create_app(Settings(webhook_secret="s3cret"), routers=[plain])


def test_a_route_added_later_is_seen():
    router = EventRouter()
    assert not router.handles("issues", "opened")
    router.add(noop, "issues", action="opened")
    assert router.handles("issues", "opened")


def test_a_handler_can_ask_for_payloads_that_mention_a_text():
    plain = routing.Router()

    @plain.register("issue_comment", action="created")
    @only_if_payload_mentions("/ao")
    async def commands(event, *, ctx) -> None:
        return None

    router = EventRouter(plain)
    assert router.handles("issue_comment", "created", b'{"comment":{"body":"/ao ping"}}')
    assert router.handles("issue_comment", "created", b'{"comment":{"body":"\\/ao ping"}}')
    assert not router.handles("issue_comment", "created", b'{"comment":{"body":"LGTM"}}')
    assert router.handles("issue_comment", "created")  # body unknown: assume it is wanted
    plain.add(noop, "issue_comment", action="created")  # a second, unfiltered handler
    assert EventRouter(plain).handles("issue_comment", "created", b'{"body":"LGTM"}')


def test_mentions_that_json_would_escape_are_refused():
    with pytest.raises(ValueError, match="inside JSON"):
        only_if_payload_mentions('say "hi"')
    with pytest.raises(ValueError, match="inside JSON"):
        only_if_payload_mentions("café")
