"""Asking an OpenAI-compatible server what it is: the context window it was started with."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import openai

log = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=10)


async def server_window(sdk: openai.AsyncOpenAI, model: str) -> int | None:
    """llama.cpp's `/props` `n_ctx`, else `/v1/models`' `max_model_len` (vLLM) or
    `meta.n_ctx_train` (llama.cpp); None when the server tells neither."""
    root = str(sdk.base_url).rstrip("/").removesuffix("/v1")
    props = await _get_json(f"{root}/props", sdk.api_key)
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        found = _tokens(settings.get("n_ctx") if isinstance(settings, dict) else None)
        found = found or _tokens(props.get("n_ctx"))
        if found:
            return found
    try:
        models = [m async for m in sdk.models.list()]
    except openai.APIError as exc:
        log.info("the server lists no models", extra={"error": str(exc)})
        return None
    for entry in sorted(models, key=lambda m: m.id != model):  # the model asked for first
        extra: dict[str, Any] = entry.model_extra or {}
        meta = extra.get("meta")
        found = _tokens(extra.get("max_model_len")) or _tokens(
            meta.get("n_ctx_train") if isinstance(meta, dict) else None
        )
        if found:
            return found
    return None


async def _get_json(url: str, key: str) -> Any:
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.get(url, headers={"Authorization": f"Bearer {key}"}) as response,
        ):
            if response.status != 200:
                return None
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.info("the server has no /props", extra={"error": str(exc)})
        return None


def _tokens(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
