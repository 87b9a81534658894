"""What every REST answer shares: errors in GitHub's shape, pagination, faults on demand."""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

DOCS = "https://docs.github.com/rest"


def error(
    status: int,
    message: str,
    *,
    errors: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, headers=headers)


class Refusal(Exception):
    """Raised inside a route: answer with this GitHub error."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors

    def response(self) -> web.Response:
        return error(self.status, self.message, errors=self.errors)


def not_found() -> Refusal:
    return Refusal(404, "Not Found")


def paginate(
    request: web.Request, items: list[Any], link_base: str
) -> tuple[list[Any], str | None]:
    """GitHub's page/per_page slicing with a `Link` header built on `link_base`."""
    try:
        per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
        page = max(1, int(request.query.get("page", "1")))
    except ValueError as exc:
        raise Refusal(422, "Invalid request: page and per_page must be integers") from exc
    last = max(1, -(-len(items) // per_page))
    chosen = items[(page - 1) * per_page : page * per_page]
    params = {k: v for k, v in request.query.items() if k not in ("page",)}

    def url(number: int) -> str:
        return f"{link_base}?{urlencode({**params, 'page': number})}"

    links = []
    if page > 1:
        links.append(f'<{url(page - 1)}>; rel="prev"')
    if page < last:
        links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
    return chosen, ", ".join(links) or None


def json_answer(data: Any, status: int = 200, link: str | None = None) -> web.Response:
    headers = {"Link": link} if link else None
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Refusal(400, "Problems parsing JSON") from exc


@dataclasses.dataclass
class ApiFaults:
    """Failures the API injects: a random rate, or a script of statuses for the next calls."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (502, 503)
    secondary_limit_rate: float = 0.0
    retry_after: int = 1
    latency: float = 0.0
    seed: int = 0
    script: deque[int] = dataclasses.field(default_factory=deque)
    targeted: list[list[Any]] = dataclasses.field(default_factory=list)

    def fail_next(self, *statuses: int) -> None:
        """The next calls answer these statuses, in order (403 = a secondary rate limit)."""
        self.script.extend(statuses)

    def fail_when(self, method: str, path_suffix: str, status: int, *, times: int = 1) -> None:
        """The next `times` calls of `method` on a path ending so answer `status`."""
        self.targeted.append([method.upper(), path_suffix, status, times])

    def take(self, method: str, path: str) -> int | None:
        """The status this call must fail with, if a targeted fault matches it."""
        for fault in self.targeted:
            if fault[0] == method and path.endswith(fault[1]) and fault[3] > 0:
                fault[3] -= 1
                return int(fault[2])
        return None
