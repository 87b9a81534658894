"""`demo --summary FILE`: what the flows left on GitHub, read back from the local GitHub's API
as a person reads it (never from the demo's or the orchestrator's own memory).

Runs are read from their status comments, which the App writes and people see: the hidden
marker names the run, the first line its workflow and state.
"""

from __future__ import annotations

import re
from typing import Any

from bot.demo.people import Person
from bot.runs.publish import STATE_WORDS

_RUN = re.compile(r"<!-- ao:run:([A-Za-z0-9._:-]+) -->")
_HEAD = re.compile(r"^\*\*(?P<workflow>[^*]+)\*\* · (?P<state>[^·\n]+)")
_STATES = {words: state for state, words in STATE_WORDS.items()}

PINNED = """query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    pinnedIssues(first: 3) { nodes { issue { number } } }
  }
}"""


async def read_summary(person: Person, graphql_url: str, bot_login: str) -> dict[str, Any]:
    owner, name = person.repository.split("/")
    issues = await person.all(person.repo("/issues?state=all"))
    pulls = await person.all(person.repo("/pulls?state=all"))
    branches = await person.all(person.repo("/branches"))
    pinned = await _pinned(person, graphql_url, owner, name)
    merged_by = {}
    for pull in pulls:
        if pull.get("merged_at"):  # the list leaves merged_by out; the pull itself has it
            full = await person.call("GET", person.repo(f"/pulls/{pull['number']}"))
            merged_by[pull["number"]] = (full.get("merged_by") or {}).get("login")
    comments = await person.all(person.repo("/issues/comments"))
    return {
        "issues": [
            {
                "number": issue["number"],
                "title": issue["title"],
                "state": issue["state"],
                "user": issue["user"]["login"],
                "labels": [label["name"] for label in issue["labels"]],
                "pinned": issue["number"] in pinned,
            }
            for issue in issues
            if "pull_request" not in issue  # the issues list holds pull requests too
        ],
        "pulls": [
            {
                "number": pull["number"],
                "title": pull["title"],
                "user": pull["user"]["login"],
                "head": pull["head"]["ref"],
                "base": pull["base"]["ref"],
                "state": pull["state"],
                "merged": bool(pull.get("merged_at")),
                "merged_by": merged_by.get(pull["number"]),
            }
            for pull in pulls
        ],
        "branches": [branch["name"] for branch in branches],
        "runs": runs_of(comments, bot_login),
    }


def runs_of(comments: list[dict[str, Any]], bot_login: str) -> list[dict[str, Any]]:
    """The runs whose status comments the App wrote, in the order they started."""
    runs = []
    for comment in comments:
        if (comment.get("user") or {}).get("login") != bot_login:
            continue  # a marker counts only where the App wrote it
        body = comment.get("body") or ""
        mark, head = _RUN.search(body), _HEAD.match(body)
        if mark and head:
            words = head.group("state").strip()
            runs.append({
                "id": mark.group(1),
                "workflow": head.group("workflow"),
                "state": _STATES.get(words, words),
                "issue": int(str(comment["issue_url"]).rsplit("/", 1)[1]),
            })  # fmt: skip
    return runs


async def _pinned(person: Person, graphql_url: str, owner: str, name: str) -> set[int]:
    answer = await person.call(
        "POST", graphql_url, {"query": PINNED, "variables": {"owner": owner, "name": name}}
    )
    nodes = (((answer or {}).get("data") or {}).get("repository") or {}).get("pinnedIssues", {})
    return {node["issue"]["number"] for node in nodes.get("nodes") or []}
