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
SCENARIOS = [
    "labels",
    "add-labels-to-issue",
    "lock-issue",
    "paginate-issues",
    "errors",
    "git-refs",
    "create-file",
    "get-content",
    "create-status",
    "branch-protection",
]
#: Who made the recorded requests, where it was not the organization itself.
RECORDED_AS = {"create-file": "octokit-fixture-user-a"}
#: Recorded requests to routes GitHub's description does not have (a legacy "list all refs"
#: form); the stand-in serves only described routes, so these are not replayed.
UNDESCRIBED = {("GET", "/repos/octokit-fixture-org/git-refs/git/refs/")}
#: Recorded exchanges of things the stand-in does not model (by scenario and position):
#: branch-protection's second PUT restricts pushes to a team and dismissals to a user.
NOT_MODELLED = {("branch-protection", 2)}


def placeholder(n: int) -> str:
    """The recorder's normalized sha: the n-th sha seen in the recorded answers."""
    return f"{n:040d}"


async def setup_git(sim: Any, repository: Any, scenario: str) -> dict[str, str]:
    """Commits as the recorder made them; which real sha each placeholder stands for."""
    if scenario == "git-refs":  # two commits on main; main is at the second
        first = await sim.push(
            repository, by=ORG, files={"1.md": "# git-refs\ncreated with initial commit"}
        )
        second = await sim.push(
            repository, by=ORG, files={"2.md": "# git-refs\ncreated with 2nd commit"}
        )
        return {placeholder(1): second, placeholder(2): first}
    if scenario == "create-status":  # one commit, whose statuses are set
        return {placeholder(1): await sim.push(repository, by=ORG, files={"README.md": "x"})}
    if scenario == "branch-protection":  # a repository with its main branch
        await sim.push(repository, by=ORG, files={"README.md": "x"})
    if scenario == "get-content":  # octokit-fixture-org/hello-world, whose branch is master
        repository.default_branch = "master"
        await sim.push(repository, by=ORG, files={"README.md": "# hello-world"})
    return {}


def substitute(text: str, shas: dict[str, str]) -> str:
    for fake, real in shas.items():
        text = text.replace(fake, real)
    return text


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
    exchanges = recording(scenario)
    name = exchanges[0]["path"].split("/")[3]  # the repository the recorder used
    repository = sim.create_repository(f"{ORG}/{name}")
    shas = await setup_git(sim, repository, scenario)
    for n in range(SETUP_ISSUES.get(scenario, 0)):
        sim.open_issue(repository, by=ORG, title=f"Test issue {n + 1}")
    person = RECORDED_AS.get(scenario, ORG)
    sim.grant(repository, person, "admin")
    headers = {
        "Authorization": f"token {sim.user_token(person)}",
        "Accept": "application/vnd.github.v3+json",
    }
    next_url = None
    async with aiohttp.ClientSession() as session:
        for position, exchange in enumerate(exchanges):
            path = substitute(exchange["path"], shas)
            if (exchange["method"].upper(), exchange["path"]) in UNDESCRIBED:
                continue
            if (scenario, position) in NOT_MODELLED:
                continue
            if path.startswith("/repositories/"):  # a Link the recorder followed: follow ours
                assert next_url, "the recording followed a next link we did not give"
                url = next_url
            else:
                url = sim.url + path
            body = exchange.get("body")
            if body not in (None, ""):
                body = json.loads(substitute(json.dumps(body), shas))
            accept = exchange["reqheaders"].get("accept", headers["Accept"])
            async with session.request(
                exchange["method"].upper(),
                url,
                headers={**headers, "Accept": accept},
                json=body if body not in (None, "") else None,
            ) as answer:
                text = await answer.text()
                raw = not answer.content_type.endswith("json")
                ours = text if raw else json.loads(text) if text else ""
                status, link = answer.status, answer.headers.get("Link")
            what = f"{exchange['method'].upper()} {path}"
            assert status == exchange["status"], f"{what}: {text[:300]}"
            if raw:  # a raw file: the same bytes
                assert ours == exchange["response"], what
            assert differences(exchange["response"], ours) == [], what
            assert rels(link) == rels(exchange["headers"].get("link")), what
            match = re.search(r'<([^>]+)>;\s*rel="next"', link or "")
            next_url = match.group(1) if match else None
