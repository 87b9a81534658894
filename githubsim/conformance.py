"""Holds the stand-in to GitHub's published descriptions, and the bot to them too.

`RestDescription` wraps `@octokit/openapi`'s `api.github.com.json`: every request the bot
makes and every answer the stand-in gives is validated with openapi-core. `WebhookDescription`
wraps `@octokit/openapi-webhooks`: every delivery's body is validated against the schema of
its event and action. Violations are collected, not raised, so a test fails at teardown even
when the bot swallowed the error it was given.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from typing_extensions import override

#: The host the description's `servers` entry names; requests are checked as if sent there.
DESCRIBED_HOST = "https://api.github.com"


@dataclasses.dataclass(frozen=True)
class Violation:
    where: str  # "request", "response" or "webhook"
    what: str  # "POST /repos/o/r/labels" or "issues.opened"
    error: str

    @override
    def __str__(self) -> str:
        return f"{self.where} {self.what}: {self.error}"


def _explain(exc: BaseException) -> str:
    """openapi-core keeps the schema errors in the cause; show them, briefly."""
    parts = [str(exc)]
    cause = exc.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        parts = [str(exc).split(":", 1)[0]]
        for error in list(schema_errors)[:5]:
            path = "/".join(str(p) for p in error.absolute_path)
            parts.append(f"{path or '(root)'}: {error.message}")
    elif cause is not None and str(cause) not in parts[0]:
        parts.append(str(cause))
    return "; ".join(parts)[:2000]


class RestDescription:
    """GitHub's REST description, parsed once (spec self-validation off: it is large)."""

    def __init__(self, path: Path) -> None:
        from openapi_core import OpenAPI
        from openapi_core.configurations import Config

        self.source = path
        self.document: dict[str, Any] = json.loads(path.read_text())
        _allow_null_in_nullable_enums(self.document)
        _read_ambiguous_unions_leniently(self.document)
        self._api = OpenAPI.from_dict(self.document, config=Config(spec_validator_cls=None))  # type: ignore[arg-type]

    def check_request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        content_type: str,
    ) -> str | None:
        """None when the description allows the request, else why not."""
        from openapi_core.testing import MockRequest

        request = MockRequest(
            DESCRIBED_HOST,
            method,
            path,
            args=query,  # type: ignore[arg-type]
            headers=headers,
            data=body or None,
            content_type=content_type or "application/json",
        )
        try:
            self._api.validate_request(request)
        except Exception as exc:  # noqa: BLE001 - any failure is a violation to report
            return _explain(exc)
        return None

    def check_response(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        request_body: bytes,
        status: int,
        body: bytes,
        content_type: str,
    ) -> str | None:
        from openapi_core.testing import MockRequest, MockResponse

        request = MockRequest(
            DESCRIBED_HOST,
            method,
            path,
            args=query,  # type: ignore[arg-type]
            data=request_body or None,
        )
        response = MockResponse(
            body, status_code=status, content_type=content_type or "application/json"
        )
        try:
            self._api.validate_response(request, response)
        except Exception as exc:  # noqa: BLE001
            return _explain(exc)
        return None


def _allow_null_in_nullable_enums(node: Any) -> None:
    """`nullable: true` with an `enum` that lacks null means null is allowed.

    OpenAPI 3.0.3 left this ambiguous and GitHub's description relies on the lenient reading:
    GitHub answers `"state_reason": null` (its recorded answers show it) for a field whose enum
    lists only strings. openapi-core reads it strictly, so the enum gets its null back here.
    """
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if (
                item.get("nullable") is True
                and isinstance(item.get("enum"), list)
                and None not in item["enum"]
            ):
                item["enum"].append(None)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _read_ambiguous_unions_leniently(document: dict[str, Any]) -> None:
    """Two unions in GitHub's description no answer can satisfy as openapi-core reads them.

    - A `discriminator` on `type` over a `oneOf` with an array member (the contents route: a
      directory is a list): a list has no `type` property, so the discriminator is dropped.
    - A `oneOf` of error schemas with no required fields (`basic-error` and
      `repository-rule-violation-error` on 409s): every error body matches both, so `oneOf`
      always fails; it is read as `anyOf`, which is what clients do.
    - `GET /app/installations` inlines an installation's `account` as an `allOf` of "Simple
      User" and "Enterprise" where the installation schema itself says `anyOf`: no account is
      both, so that `allOf` is read as the `anyOf` the single-installation route has.
    """
    schemas = document.get("components", {}).get("schemas", {})

    def is_array(member: Any) -> bool:
        ref = member.get("$ref", "") if isinstance(member, dict) else ""
        return bool(schemas.get(ref.rsplit("/", 1)[-1], {}).get("type") == "array")

    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            both = item.get("allOf")
            if isinstance(both, list) and {m.get("title") for m in both if isinstance(m, dict)} == {
                "Simple User",
                "Enterprise",
            }:
                item["anyOf"] = item.pop("allOf")
            members = item.get("oneOf")
            if isinstance(members, list):
                refs = {m.get("$ref", "") for m in members if isinstance(m, dict)}
                if "discriminator" in item and any(is_array(m) for m in members):
                    del item["discriminator"]
                if "#/components/schemas/basic-error" in refs and len(refs) == len(members):
                    item["anyOf"] = item.pop("oneOf")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class WebhookDescription:
    """GitHub's webhook description: one JSON schema per event and action."""

    def __init__(self, path: Path) -> None:
        import jsonschema
        from referencing import Registry, Resource

        self.source = path
        self.document: dict[str, Any] = json.loads(path.read_text())
        resource = Resource.from_contents(self.document, default_specification=_draft_2020())
        self._registry = Registry().with_resource("urn:webhooks", resource)
        self._validator_cls = jsonschema.Draft202012Validator
        self._validators: dict[str, Any] = {}

    def names(self) -> list[str]:
        return sorted(self.document.get("webhooks", {}))

    def check(self, event: str, payload: dict[str, Any]) -> str | None:
        """None when the payload matches the description of `event.action`, else why not."""
        action = payload.get("action")
        key = f"{event}-{action}".replace("_", "-") if action else event.replace("_", "-")
        hook = self.document.get("webhooks", {}).get(key)
        if hook is None:
            return f"no webhook {key!r} in the description"
        validator = self._validators.get(key)
        if validator is None:
            ref = hook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            validator = self._validator_cls({"$ref": "urn:webhooks" + ref}, registry=self._registry)
            self._validators[key] = validator
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        if not errors:
            return None
        return "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
            for e in errors[:5]
        )


def _draft_2020() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012
