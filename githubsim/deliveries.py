"""Webhook deliveries: signed and POSTed to the App in the order GitHub would send them.

Like GitHub, a failed delivery is not retried on its own (`redeliver` does it on request),
and faults can be switched on: deliveries dropped, duplicated (same delivery id, as GitHub's
redelivery does) or swapped with the next one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from githubsim.model import App, Event, GitHubState, Installation

log = logging.getLogger(__name__)

#: Longest wait for the App to answer everything sent so far.
SETTLE_LIMIT_S = 30.0
#: Events GitHub sends every App whether or not it subscribed to them.
ALWAYS_SENT = frozenset({"installation", "installation_repositories", "github_app_authorization"})


@dataclasses.dataclass
class Delivery:
    id: str
    event: str
    action: str | None
    payload: dict[str, Any]
    app: App
    body: bytes = b""
    status: int | None = None  # the App's HTTP answer; None until sent, 0 when unreachable
    answer: str = ""
    attempts: int = 0
    dropped: bool = False


@dataclasses.dataclass
class WebhookFaults:
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    seed: int = 0


class WebhookSender:
    """Turns state events into deliveries and sends them, one at a time, in order."""

    def __init__(
        self,
        state: GitHubState,
        *,
        check: Callable[[str, dict[str, Any]], str | None] | None = None,
        on_violation: Callable[[str, str], None] | None = None,
        faults: WebhookFaults | None = None,
    ) -> None:
        self._state = state
        self._check = check
        self._on_violation = on_violation
        self.faults = faults or WebhookFaults()
        self._rng = random.Random(self.faults.seed)  # noqa: S311 - faults, not secrets
        self.deliveries: list[Delivery] = []
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._held: Delivery | None = None
        state.listeners.append(self.on_event)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._worker = asyncio.create_task(self._run(), name="githubsim-webhooks")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def on_event(self, event: Event) -> None:
        for app, installation in self._recipients(event):
            payload = dict(event.payload)
            if "installation" not in payload and installation is not None:
                payload["installation"] = self._state.render.simple_installation(installation)
            delivery = Delivery(str(uuid.uuid4()), event.name, payload.get("action"), payload, app)
            delivery.body = json.dumps(payload).encode()
            if self._check is not None:
                problem = self._check(event.name, payload)
                if problem and self._on_violation is not None:
                    self._on_violation(f"{event.name}.{delivery.action}", problem)
            self.deliveries.append(delivery)
            self._queue.put_nowait(delivery)

    def _recipients(self, event: Event) -> list[tuple[App, Installation | None]]:
        if event.installation is not None:
            return [(event.installation.app, event.installation)]
        if event.repository is None:
            return []
        return [
            (installation.app, installation)
            for installation in self._state.installation_for(event.repository)
            if installation.suspended_at is None
            and (event.name in installation.app.events or event.name in ALWAYS_SENT)
            and (event.only_app is None or installation.app is event.only_app)
        ]

    async def settle(self) -> None:
        """Wait until every delivery made so far has been answered (or dropped)."""
        async with asyncio.timeout(SETTLE_LIMIT_S):
            await self._queue.join()

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivery again with the same id, as GitHub's "Redeliver" button does."""
        original = next(d for d in self.deliveries if d.id == delivery_id)
        await self._send(original)
        return original

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver_with_faults(delivery)
            except Exception:
                log.exception("webhook delivery %s failed", delivery.id)
            finally:
                self._queue.task_done()

    async def _deliver_with_faults(self, delivery: Delivery) -> None:
        if self._rng.random() < self.faults.drop_rate:
            delivery.dropped = True
            return
        if self._held is None and self._rng.random() < self.faults.reorder_rate:
            self._held = delivery  # sent after the next one
            if self._queue.empty():
                self._held = None
                await self._send(delivery)
            return
        await self._send(delivery)
        if self._held is not None:
            held, self._held = self._held, None
            await self._send(held)
        if self._rng.random() < self.faults.duplicate_rate:
            await self._send(delivery)

    def headers(self, delivery: Delivery) -> dict[str, str]:
        secret = delivery.app.webhook_secret.encode()
        return {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/githubsim",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.id,
            "X-GitHub-Hook-ID": str(delivery.app.id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(delivery.app.id),
            "X-Hub-Signature": "sha1=" + hmac.new(secret, delivery.body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256="
            + hmac.new(secret, delivery.body, hashlib.sha256).hexdigest(),
        }

    async def _send(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        if delivery.app.webhook_url is None or self._session is None:
            return
        try:
            async with self._session.post(
                delivery.app.webhook_url, data=delivery.body, headers=self.headers(delivery)
            ) as response:
                delivery.status, delivery.answer = response.status, (await response.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.status, delivery.answer = 0, f"{type(exc).__name__}: {exc}"
