"""The router deliveries are dispatched through: gidgethub's, routed by event and action only.

Keeping routes to (event, action) lets the dispatcher tell from the journal's columns alone
whether anything handles a delivery, so a payload nobody reads is never parsed. A handler
may also declare text its payload must contain (`@only_if_payload_mentions("/ao")`): a
cheap test on the raw bytes that spares parsing the many comments that are not commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gidgethub import routing, sansio
from typing_extensions import override

F = TypeVar("F", bound=Callable[..., Any])
_NEEDLES = "__orchestrator_payload_mentions__"


def only_if_payload_mentions(*texts: str) -> Callable[[F], F]:
    """Run the handler only for payloads whose raw JSON contains one of `texts`.

    A filter that may let through too much (the text can sit in any field), never too
    little, as long as each text has no characters JSON would escape.
    """
    for text in texts:
        if text.encode() != text.encode("unicode_escape") or '"' in text or "\\" in text:
            raise ValueError(f"{text!r} would look different inside JSON")

    def mark(func: F) -> F:
        # JSON may also write "/" as "\/": accept both spellings.
        needles = {t.encode() for t in texts} | {t.replace("/", "\\/").encode() for t in texts}
        setattr(func, _NEEDLES, tuple(needles))
        return func

    return mark


class EventRouter(routing.Router):
    """A `gidgethub.routing.Router` that refuses routes on payload keys other than `action`."""

    def __init__(self, *other_routers: routing.Router) -> None:
        self._handles: dict[tuple[str, str | None], frozenset[Any]] = {}
        super().__init__(*other_routers)

    @override
    def add(self, func: Any, event_type: str, **data_detail: Any) -> None:
        self._handles.clear()
        unsupported = set(data_detail) - {"action"}
        if unsupported:
            raise ValueError(
                f"route for {event_type!r} on {sorted(unsupported)}: only `action` is supported;"
                " check other fields inside the handler"
            )
        super().add(func, event_type, **data_detail)

    def handles(self, event: str, action: str | None, body: bytes | None = None) -> bool:
        """Whether any handler would run for this event and action (and raw payload)."""
        callbacks = self._callbacks(event, action)
        if body is None or not callbacks:
            return bool(callbacks)
        for callback in callbacks:
            needles: tuple[bytes, ...] | None = getattr(callback, _NEEDLES, None)
            if needles is None or any(needle in body for needle in needles):
                return True
        return False

    def _callbacks(self, event: str, action: str | None) -> frozenset[Any]:
        known = self._handles.get((event, action))
        if known is None:
            data = {} if action is None else {"action": action}
            known = self.fetch(sansio.Event(data, event=event, delivery_id=""))
            self._handles[(event, action)] = known
        return known
