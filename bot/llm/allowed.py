"""The models the operator allows repositories to choose: no SDK imported here, so the web
process can check a repository's config without loading the providers' clients."""

from __future__ import annotations

from collections.abc import Mapping


def allowed_models(environ: Mapping[str, str]) -> list[str] | None:
    """ORCHESTRATOR_ALLOWED_MODELS (comma-separated specs); None when the operator set none."""
    raw = environ.get("ORCHESTRATOR_ALLOWED_MODELS", "").strip()
    return [m.strip() for m in raw.split(",") if m.strip()] or None
