"""Installing the App labels its repositories; removing or suspending it forgets its token."""

from __future__ import annotations

import copy

import pytest

from bot.github.labels import STORY_LABELS
from tests.fake_github import FakeGitHub
from tests.support import webhook_examples


def example(event: str, action: str) -> dict:
    return copy.deepcopy(next(p for name, p in webhook_examples()
                              if name == event and p.get("action") == action))  # fmt: skip


@pytest.fixture
def github(fake_github):
    return fake_github


@pytest.fixture
def deliver(dispatch):
    return dispatch


def names(gh: FakeGitHub, full_name: str) -> set[str]:
    return {label["name"] for label in gh.labels.get(full_name, [])}


async def test_a_new_installation_gets_the_labels_it_lacks_and_keeps_a_persons(deliver, github):
    gh = github.gh
    gh.installation_repositories = [
        {"id": 1, "name": "a", "full_name": "octo/a", "private": False},
        {"id": 2, "name": "b", "full_name": "octo/b", "private": True},
    ]
    gh.labels["octo/a"] = [{"id": 5, "name": "Story: Done", "color": "000000",
                            "description": "ours", "default": False}]  # fmt: skip
    await deliver("installation", example("installation", "created"))
    wanted = {label.name for label in STORY_LABELS}
    assert names(gh, "octo/b") == wanted
    assert {n.lower() for n in names(gh, "octo/a")} == {n.lower() for n in wanted}
    kept = next(label for label in gh.labels["octo/a"] if label["name"] == "Story: Done")
    assert kept["color"] == "000000" and kept["description"] == "ours"
    posts = sum(method == "POST" for method, _ in gh.requests)
    await deliver("installation", example("installation", "created"))  # redelivered
    assert sum(method == "POST" for method, _ in gh.requests) == posts  # nothing new


async def test_repositories_added_later_are_labelled(deliver, github):
    payload = example("installation_repositories", "added")
    await deliver("installation_repositories", payload)
    for repository in payload["repositories_added"]:
        assert names(github.gh, repository["full_name"]) == {label.name for label in STORY_LABELS}


@pytest.mark.parametrize("action", ["deleted", "suspend"])
async def test_deleted_or_suspended_installations_are_forgotten(deliver, github, action):
    payload = example("installation", action)
    await deliver("installation", payload)
    assert github.forgotten == [payload["installation"]["id"]]
    assert github.gh.requests == []
