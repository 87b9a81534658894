"""What a call costs: a price table shipped with the package that the operator can extend."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.llm.errors import UnknownModelPrice
from bot.llm.types import Usage

PER = 1_000_000


@dataclasses.dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * self.cache_write
            + usage.cache_read_tokens * self.cache_read
        ) / PER


class PriceTable:
    def __init__(self, table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> None:
        self._table = {provider: dict(models or {}) for provider, models in table.items()}

    @classmethod
    def load(cls, extra: Path | None = None) -> PriceTable:
        shipped = yaml.safe_load(resources.files("bot.llm").joinpath("prices.yaml").read_text())
        table: dict[str, dict[str, Any]] = {k: dict(v or {}) for k, v in shipped.items()}
        if extra is not None:
            for provider, models in (yaml.safe_load(extra.read_text()) or {}).items():
                table.setdefault(provider, {}).update(models or {})
        return cls(table)

    def price(self, spec: str) -> Price:
        provider, _, model = spec.partition(":")
        models = self._table.get(provider, {})
        matches = [key for key in models if model == key or model.startswith(key + "-")]
        if not matches:
            raise UnknownModelPrice(
                f"no price for {spec}: add it to the file ORCHESTRATOR_PRICES names "
                f"({provider}: {{{model}: {{input: …, output: …, cache_write: …, "
                "cache_read: …}}}, USD per million tokens)"
            )
        entry = models[max(matches, key=len)]
        return Price(
            float(entry["input"]),
            float(entry["output"]),
            float(entry.get("cache_write", entry["input"])),
            float(entry.get("cache_read", entry["input"])),
        )
