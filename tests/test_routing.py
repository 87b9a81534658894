"""Routes are by event and action, so the dispatcher knows without parsing who wants what."""

from __future__ import annotations

import pytest
from gidgethub import routing

from bot.intake.routing import EventRouter
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
