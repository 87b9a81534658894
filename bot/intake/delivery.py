"""What one webhook delivery is, and the ordering key that decides what it must wait for."""

from __future__ import annotations

import dataclasses
from typing import Any

import simdjson

PENDING = "pending"
DONE = "done"
DEAD = "dead"
STATES = (PENDING, DONE, DEAD)


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as the dispatcher needs it; `payload` is None when it must be read back."""

    seq: int
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    installation_id: int | None
    order_key: str
    attempts: int = 0
    not_before: float = 0.0
    #: The raw payload while it is in memory; None when it must be read back from the journal.
    body: bytes | None = dataclasses.field(default=None, repr=False, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A journal row as an operator sees it."""

    seq: int
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    installation_id: int | None
    state: str
    attempts: int
    received_at: float
    finished_at: float | None
    last_error: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    """A verified, parsed delivery that is about to be journaled."""

    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    installation_id: int | None
    order_key: str
    body: bytes = dataclasses.field(repr=False)
    #: False when no handler wants it: journaled as already done, never dispatched.
    handled: bool = True


#: A parsed JSON object: a dict, or simdjson's lazy object on the webhook hot path.
JSONObject = dict[str, Any] | simdjson.Object
_OBJECTS = (dict, simdjson.Object)


def describe(payload: JSONObject) -> tuple[str | None, str | None, int | None, str]:
    """Return (action, repository full name, installation id, order key) of a payload.

    Order is kept per repository (by id, which survives renames); deliveries with no
    repository are ordered per installation, and the rest share one global lane.
    """
    action = payload.get("action")
    repo = payload.get("repository")
    installation = payload.get("installation")
    full_name = repo.get("full_name") if isinstance(repo, _OBJECTS) else None
    repo_id = repo.get("id") if isinstance(repo, _OBJECTS) else None
    inst_id = installation.get("id") if isinstance(installation, _OBJECTS) else None
    if not isinstance(inst_id, int) or isinstance(inst_id, bool):
        inst_id = None
    if isinstance(repo_id, int) and not isinstance(repo_id, bool):
        key = f"repo:{repo_id}"
    elif isinstance(full_name, str):
        key = f"repo:{full_name.lower()}"
    elif inst_id is not None:
        key = f"installation:{inst_id}"
    else:
        key = "global"
    return (
        action if isinstance(action, str) else None,
        full_name if isinstance(full_name, str) else None,
        inst_id,
        key,
    )


class Unparseable(ValueError):
    """A journaled body that is not a JSON object: it will never parse, so it is not retried."""


def parse_payload(body: bytes) -> dict[str, Any]:
    """A payload as Python objects, by the same parser (simdjson) and rules the web edge
    used to accept it: a body acknowledged there always parses here."""
    try:
        payload = simdjson.loads(body)
    except (ValueError, RuntimeError) as exc:  # syntax and encoding; depth, big numbers
        raise Unparseable(f"payload is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise Unparseable("payload is not a JSON object")
    return payload
