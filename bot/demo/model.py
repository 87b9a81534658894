"""The demo's model: the scripted local model with no key, or a real one with `--llm`.

The scripted model answers behind Anthropic's real wire protocol on 127.0.0.1, so the run's
agents use the real SDK exactly as they would with a key; it signs what it writes and the
demo says wherever it speaks that no language model is at work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from aiohttp import web
from typing_extensions import override

from bot.demo.edits import scripts
from bot.llm.factory import PROVIDERS
from bot.localmodel.anthropic_wire import AnthropicServer
from bot.localmodel.scripted import Asked, ScriptedReply, signed
from bot.localmodel.stories import StoryScripts

SCRIPTED = "anthropic:scripted-local-model"
SIGNATURE = "_Written by the demo's scripted local model (rules, not a language model)._"
#: The keys each provider's SDK reads; the demo passes only the chosen provider's on.
KEYS = {
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "openai-compatible": (
        "ORCHESTRATOR_OPENAI_COMPATIBLE_URL",
        "ORCHESTRATOR_OPENAI_COMPATIBLE_KEY",
        "ORCHESTRATOR_CONTEXT_WINDOWS",
    ),
}
#: The variable without which a provider cannot be reached.
REQUIRED = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "openai-compatible": "ORCHESTRATOR_OPENAI_COMPATIBLE_URL",
}


class DemoScriptedModel(AnthropicServer):
    """The scripted local model with the demo's stories: the rules answer every request, but
    a story's developer turns and reviews, which are scripted (`bot/demo/edits.py`)."""

    def __init__(self, stories: StoryScripts) -> None:
        super().__init__()
        self.stories = stories

    @override
    def _model(self, asked: Asked) -> ScriptedReply:
        answer = self.stories.answer(asked)
        if answer is None:
            return super()._model(asked)
        return signed(answer, self.signature) if self.signature else answer


class ModelUnusable(Exception):
    """`--llm` names a model the demo cannot use; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class DemoModel:
    spec: str  # provider:model, as ORCHESTRATOR_DEFAULT_MODEL takes it
    environ: Mapping[str, str]  # what the run workers get, beyond a clean environment
    described: str  # one line for the demo's header

    @property
    def scripted(self) -> bool:
        return self.spec == SCRIPTED


def chosen(spec: str | None, environ: Mapping[str, str]) -> str | None:
    """None for the scripted model; else the checked `--llm` spec (ModelUnusable if not)."""
    if spec is None:
        return None
    provider, _, name = spec.partition(":")
    if provider not in PROVIDERS or not name:
        known = ", ".join(f"{p}:MODEL" for p in PROVIDERS)
        raise ModelUnusable(f"--llm {spec!r}: expected one of {known}")
    if not environ.get(REQUIRED[provider]):
        raise ModelUnusable(f"--llm {spec}: set {REQUIRED[provider]} first")
    return spec


@contextlib.asynccontextmanager
async def serving(spec: str | None, data_dir: Path) -> AsyncIterator[DemoModel]:
    """The model for the demo's runs, served for as long as the demo runs."""
    limits = {"ORCHESTRATOR_ALLOWED_MODELS": spec or SCRIPTED}
    if spec is not None:
        provider = spec.partition(":")[0]
        wanted = (*KEYS[provider], "ORCHESTRATOR_PRICES")  # a price for a model we do not list
        keys = {k: os.environ[k] for k in wanted if k in os.environ}
        yield DemoModel(spec, keys | limits, f"{spec} (a real model, on your key)")
        return
    server = DemoScriptedModel(scripts())
    server.signature = SIGNATURE
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    prices = data_dir / "scripted-model-prices.yaml"
    # It costs nothing, and the run's cost line says so.
    prices.write_text("anthropic:\n  scripted-local-model: {input: 0, output: 0}\n")
    environ = {
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ANTHROPIC_API_KEY": "no-key-the-scripted-model-needs-none",
        "ORCHESTRATOR_PRICES": str(prices),
    }
    try:
        yield DemoModel(
            SCRIPTED,
            environ | limits,
            f"the scripted local model on 127.0.0.1:{port}: rules that answer from each task "
            "behind Anthropic's wire protocol, not a language model (--llm uses a real one)",
        )
    finally:
        await runner.cleanup()
