"""GitHub's recorded answers (@octokit/fixtures) replayed against the stand-in.

Each scenario was recorded against api.github.com on a fresh repository; its setup requests
(marked `X-Octokit-Fixture-Ignore` by the recorder) are repeated here, then every recorded
request is sent and the stand-in's answer must match the recording: the same status, every
field GitHub sent (newer fields may be added), the same types, the same values where they do
not depend on time or ids, and the same pagination links.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from tests.support import npm_package

ORG = "octokit-fixture-org"
#: Setup each scenario's recorder did before recording: issues to open first.
SETUP_ISSUES = {"lock-issue": 1, "paginate-issues": 13}
SCENARIOS = ["labels", "add-labels-to-issue", "lock-issue", "paginate-issues", "errors"]
#: Values that follow from what was asked, not from time or ids.
COMPARED_VALUES = {
    "name",
    "color",
    "default",
    "description",
    "title",
    "number",
    "state",
    "locked",
    "message",
    "errors",
    "body",
}


def recording(scenario: str) -> list[dict[str, Any]]:
    path = npm_package("@octokit/fixtures") / "scenarios" / "api.github.com" / scenario
    return json.loads((path / "normalized-fixture.json").read_text())


def differences(recorded: Any, ours: Any, where: str = "") -> list[str]:
    if recorded is None or ours is None:
        return (
            []
            if recorded is None or where.endswith(("body", "description"))
            else [f"{where}: recorded {recorded!r}, got null"]
        )
    if isinstance(recorded, dict):
        if not isinstance(ours, dict):
            return [f"{where}: recorded an object, got {type(ours).__name__}"]
        found = []
        for key, value in recorded.items():
            if key not in ours:
                found.append(f"{where}/{key}: missing")
            elif (
                key in COMPARED_VALUES
                and not isinstance(value, (dict, list))
                and value != ours[key]
            ):
                found.append(f"{where}/{key}: recorded {value!r}, got {ours[key]!r}")
            else:
                found += differences(value, ours[key], f"{where}/{key}")
        return found
    if isinstance(recorded, list):
        if not isinstance(ours, list) or len(ours) != len(recorded):
            return [f"{where}: recorded {len(recorded)} items, got {ours!r:.200}"]
        return [d for r, o in zip(recorded, ours, strict=True) for d in differences(r, o, where)]
    if type(recorded) is not type(ours):
        return [f"{where}: recorded {type(recorded).__name__}, got {type(ours).__name__}"]
    return []


def rels(link: str | None) -> list[str]:
    return sorted(re.findall(r'rel="(\w+)"', link or ""))


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_recorded_exchange_is_answered_as_github_answered_it(make_sim, scenario):
    sim = await make_sim()
    repository = sim.create_repository(f"{ORG}/{scenario}")
    for n in range(SETUP_ISSUES.get(scenario, 0)):
        sim.open_issue(repository, by=ORG, title=f"Test issue {n + 1}")
    headers = {
        "Authorization": f"token {sim.user_token(ORG)}",
        "Accept": "application/vnd.github.v3+json",
    }
    next_url = None
    async with aiohttp.ClientSession() as session:
        for exchange in recording(scenario):
            path = exchange["path"]
            if path.startswith("/repositories/"):  # a Link the recorder followed: follow ours
                assert next_url, "the recording followed a next link we did not give"
                url = next_url
            else:
                url = sim.url + path
            body = exchange.get("body")
            async with session.request(
                exchange["method"].upper(),
                url,
                headers=headers,
                json=body if body not in (None, "") else None,
            ) as answer:
                text = await answer.text()
                ours = json.loads(text) if text else ""
                status, link = answer.status, answer.headers.get("Link")
            what = f"{exchange['method'].upper()} {path}"
            assert status == exchange["status"], f"{what}: {text[:300]}"
            assert differences(exchange["response"], ours) == [], what
            assert rels(link) == rels(exchange["headers"].get("link")), what
            match = re.search(r'<([^>]+)>;\s*rel="next"', link or "")
            next_url = match.group(1) if match else None
