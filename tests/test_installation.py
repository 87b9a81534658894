"""Installing the App labels its repositories; removing or suspending it forgets its token.

The deliveries are the ones the GitHub stand-in sends when an owner installs, extends,
suspends or removes the App; the labels checked are the ones on the repository afterwards.
"""

from __future__ import annotations

import gidgethub
import pytest

from bot.github.labels import STORY_LABELS
from githubsim.model import DEFAULT_LABELS

WANTED = {label.name for label in STORY_LABELS}
DEFAULTS = {name for name, _, _ in DEFAULT_LABELS}


def names(repository) -> set[str]:
    return {label.name for label in repository.labels.values()}


async def test_a_new_installation_gets_the_labels_it_lacks_and_keeps_a_persons(hub):
    sim = hub.sim
    other = sim.create_repository("octo-org/other", private=True)
    mine = sim.state.create_label(
        hub.repository, sim.state.user("octo-org"), "Story: Done", "000000", "ours"
    )
    sim.install(hub.app, [hub.repository, other], by="octo-org")
    await hub.dispatch(hub.last("installation", "created"))
    assert names(other) == WANTED | DEFAULTS
    assert {n.lower() for n in names(hub.repository)} == {n.lower() for n in WANTED | DEFAULTS}
    assert (mine.name, mine.color, mine.description) == ("Story: Done", "000000", "ours")
    posts = hub.calls("POST", "/labels")
    await hub.dispatch(hub.last("installation", "created"))  # redelivered
    assert hub.calls("POST", "/labels") == posts  # nothing new


async def test_repositories_added_later_are_labelled(hub):
    installation = hub.sim.install(hub.app, [hub.repository], by="octo-org")
    added = hub.sim.create_repository("octo-org/added")
    hub.sim.state.add_to_installation(installation, [added], sender=hub.sim.state.user("octo-org"))
    await hub.dispatch(hub.last("installation_repositories", "added"))
    assert names(added) == WANTED | DEFAULTS
    assert names(hub.repository) == DEFAULTS  # its own delivery was not handed over here


@pytest.mark.parametrize("how", ["uninstall", "suspend"])
async def test_deleted_or_suspended_installations_are_forgotten(hub, how):
    installation = hub.sim.install(hub.app, [hub.repository], by="octo-org")
    await hub.clients.installation(installation.id)  # a token is cached
    getattr(hub.sim, how)(installation, by="octo-org")
    before = len(hub.sim.calls)
    await hub.dispatch(hub.last("installation"))
    assert len(hub.sim.calls) == before  # forgetting takes no request
    with pytest.raises(gidgethub.BadRequest):  # no stale token: GitHub is asked, and refuses
        await hub.clients.installation(installation.id)
