"""`provider:model` specs to clients. Keys and base URLs come only from the server's
environment: a repository may choose among the models the operator allows, never where the
operator's key goes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.llm.allowed import allowed_models
from bot.llm.errors import LLMError, ModelNotAllowed
from bot.llm.replay import ReplayClient
from bot.llm.types import LLMClient

PROVIDERS = ("anthropic", "openai", "openai-compatible")


def make_client(
    spec: str, environ: Mapping[str, str], *, chosen_by_repository: bool = False
) -> LLMClient:
    provider, sep, model = spec.partition(":")
    if provider == "replay" and model:
        path = Path(model)
        if not path.is_file():
            raise LLMError(f"{spec}: no such recording")
        return ReplayClient(path)
    if not sep or not model or provider not in PROVIDERS:
        raise LLMError(
            f"{spec!r} is not a model spec; use one of {', '.join(p + ':MODEL' for p in PROVIDERS)}"
        )
    allowed = allowed_models(environ)
    if chosen_by_repository and (allowed is None or spec not in allowed):
        raise ModelNotAllowed(
            f"{spec} is not among the models the operator allows "
            f"(ORCHESTRATOR_ALLOWED_MODELS: {', '.join(allowed or []) or 'none'})"
        )
    # Each SDK is imported only where its provider is used: a run worker starts a second sooner
    # (the two take seconds to import between them).
    if provider == "anthropic":
        from bot.llm.anthropic_client import AnthropicClient

        return AnthropicClient(
            model,
            api_key=environ.get("ANTHROPIC_API_KEY"),
            base_url=environ.get("ANTHROPIC_BASE_URL"),
        )
    from bot.llm.openai_client import OpenAIClient

    if provider == "openai":
        return OpenAIClient(
            model, api_key=environ.get("OPENAI_API_KEY"), base_url=environ.get("OPENAI_BASE_URL")
        )
    url = environ.get("ORCHESTRATOR_OPENAI_COMPATIBLE_URL")
    if not url:
        raise LLMError(
            "openai-compatible: needs ORCHESTRATOR_OPENAI_COMPATIBLE_URL (the "
            "server's /v1 address) in the server's environment"
        )
    return OpenAIClient(
        model,
        api_key=environ.get("ORCHESTRATOR_OPENAI_COMPATIBLE_KEY"),
        base_url=url,
        provider="openai-compatible",
    )


def price_file(environ: Mapping[str, str]) -> Path | None:
    raw = environ.get("ORCHESTRATOR_PRICES", "").strip()
    return Path(raw) if raw else None
