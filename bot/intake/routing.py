"""The router deliveries are dispatched through: gidgethub's, routed by event and action only.

Keeping routes to (event, action) lets the dispatcher tell from the journal's columns alone
whether anything handles a delivery, so a payload nobody reads is never parsed.
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio


class EventRouter(routing.Router):
    """A `gidgethub.routing.Router` that refuses routes on payload keys other than `action`."""

    def __init__(self, *other_routers: routing.Router) -> None:
        self._handles: dict[tuple[str, str | None], bool] = {}
        super().__init__(*other_routers)

    def add(self, func: Any, event_type: str, **data_detail: Any) -> None:
        self._handles.clear()
        unsupported = set(data_detail) - {"action"}
        if unsupported:
            raise ValueError(
                f"route for {event_type!r} on {sorted(unsupported)}: only `action` is supported;"
                " check other fields inside the handler"
            )
        super().add(func, event_type, **data_detail)

    def handles(self, event: str, action: str | None) -> bool:
        """Whether any handler would run for a delivery of this event and action."""
        known = self._handles.get((event, action))
        if known is None:
            data = {} if action is None else {"action": action}
            known = bool(self.fetch(sansio.Event(data, event=event, delivery_id="")))
            self._handles[(event, action)] = known
        return known
