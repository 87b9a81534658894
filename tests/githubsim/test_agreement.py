"""What you create, what you list and what arrives as webhooks always agree.

A seeded random mix of changes, made through the REST API and as people, then three views
compared: the REST listings, the state replayed from the webhooks alone, and the model.
"""

from __future__ import annotations

import random

import aiohttp
import pytest
from gidgethub.aiohttp import GitHubAPI

from tests.support import APP_ID, MANIFEST


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_listings_and_webhooks_agree_after_random_changes(make_sim, app_private_key, seed):
    rng = random.Random(seed)
    sim = await make_sim()
    repository = sim.create_repository("octo-org/agree")
    app = sim.register_app(
        app_id=APP_ID,
        private_key=app_private_key,
        webhook_url=None,
        webhook_secret="s",
        manifest=MANIFEST,
    )
    sim.install(app, [repository], by="octo-org")
    sim.grant(repository, "maya", "maintain")
    async with aiohttp.ClientSession() as session:
        gh = GitHubAPI(session, "tests", oauth_token=sim.user_token("maya"), base_url=sim.url)
        base = "/repos/octo-org/agree"
        for step in range(60):
            numbers = list(repository.issues)
            action = rng.choice(
                [
                    "open",
                    "comment",
                    "label",
                    "unlabel",
                    "close",
                    "reopen",
                    "edit",
                    "delete-comment",
                    "person-comment",
                    "person-label",
                ]
            )
            if action == "open" or not numbers:
                await gh.post(
                    f"{base}/issues",
                    data={
                        "title": f"issue {step}",
                        "labels": rng.sample(["bug", "question", "new"], 1),
                    },
                )
                continue
            number = rng.choice(numbers)
            if action == "comment":
                await gh.post(f"{base}/issues/{number}/comments", data={"body": f"c{step}"})
            elif action == "person-comment":
                sim.comment(repository, number, by="rita", body=f"p{step}")
            elif action == "label":
                await gh.post(
                    f"{base}/issues/{number}/labels",
                    data={"labels": [rng.choice(["bug", "enhancement", "x"])]},
                )
            elif action == "person-label":
                sim.add_label(repository, number, by="maya", name="question")
            elif action == "unlabel":
                current = [lb["name"] async for lb in gh.getiter(f"{base}/issues/{number}/labels")]
                if current:
                    await gh.delete(f"{base}/issues/{number}/labels/{rng.choice(current)}")
            elif action in ("close", "reopen"):
                state = "closed" if action == "close" else "open"
                await gh.patch(f"{base}/issues/{number}", data={"state": state})
            elif action == "edit":
                await gh.patch(f"{base}/issues/{number}", data={"title": f"renamed {step}"})
            elif action == "delete-comment":
                comments = await gh.getitem(f"{base}/issues/{number}/comments")
                if comments:
                    await gh.delete(rng.choice(comments)["url"])

        listed = {
            i["number"]: (
                i["title"],
                i["state"],
                sorted(lb["name"] for lb in i["labels"]),
                [c["body"] async for c in gh.getiter(i["comments_url"])],
            )
            async for i in gh.getiter(f"{base}/issues?state=all&per_page=7")
        }

    replayed: dict[int, list] = {}
    for d in sim.webhooks.deliveries:
        if d.event == "issues":
            number = d.payload["issue"]["number"]
            entry = replayed.setdefault(number, [None, "open", set(), []])
            entry[0] = d.payload["issue"]["title"]
            if d.action in ("closed", "reopened"):
                entry[1] = "closed" if d.action == "closed" else "open"
            elif d.action == "labeled":
                entry[2].add(d.payload["label"]["name"])
            elif d.action == "unlabeled":
                entry[2].discard(d.payload["label"]["name"])
        elif d.event == "issue_comment":
            entry = replayed[d.payload["issue"]["number"]]
            if d.action == "created":
                entry[3].append(d.payload["comment"]["body"])
            elif d.action == "deleted":
                entry[3].remove(d.payload["comment"]["body"])
    assert listed == {
        n: (t, s, sorted(labels), comments) for n, (t, s, labels, comments) in replayed.items()
    }
    assert len(listed) == len(repository.issues) >= 3
