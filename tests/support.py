"""Helpers the tests share: signing deliveries and finding the prefetched npm fixtures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-webhook-secret-7f3a"
APP_ID = 31337
MANIFEST = ROOT / "app.yml"  # the App as registered on GitHub: its permissions and events


def npm_package(name: str) -> Path:
    """The unpacked, checksummed copy of a pinned npm package; never downloads."""
    pins = json.loads((ROOT / "tests" / "npm-fixtures.json").read_text())["packages"]
    pin = next(p for p in pins if p["name"] == name)
    cache = Path(os.environ.get("ORCHESTRATOR_TEST_CACHE", ROOT / ".cache" / "npm"))
    path = cache / f"{name.replace('/', '__')}@{pin['version']}"
    if not (path / ".integrity").exists():
        pytest.fail(f"{name} is not prefetched: run scripts/prefetch-npm (scripts/test does)")
    return path


def webhook_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every (event, payload) in @octokit/webhooks-examples for api.github.com."""
    index = npm_package("@octokit/webhooks-examples") / "api.github.com" / "index.json"
    return [(e["name"], p) for e in json.loads(index.read_text()) for p in e["examples"]]


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, *, delivery_id: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "User-Agent": "GitHub-Hookshot/test",
    }


def repo_payload(repo_id: int, n: int = 0, action: str = "created") -> dict[str, Any]:
    """A small issue_comment-shaped payload for a repository."""
    return {
        "action": action,
        "comment": {"id": n, "body": f"comment {n}"},
        "repository": {"id": repo_id, "full_name": f"octo/repo{repo_id}"},
        "installation": {"id": 42},
    }


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `predicate()` holds; fail the test after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
