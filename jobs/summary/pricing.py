"""What a language-model call costs: a price table in USD per million tokens.

The built-in table covers common models at their published list prices (as of 2025);
``[llm.prices.MODEL]`` in the settings overrides or extends it. A model is looked up by
its exact name, then by the longest listed prefix (``gpt-4.1-mini-2025-04-14`` is priced
as ``gpt-4.1-mini``). A model without a price costs 0 and cannot count towards a cap,
so the settings refuse a monthly cap on a model they cannot price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable", "estimate_tokens"]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1_000_000


DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-haiku-4": Price(1.00, 5.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "gemini-2.5-pro": Price(1.25, 10.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "grok-4": Price(3.00, 15.00),
    "grok-3-mini": Price(0.30, 0.50),
}


class PriceTable:
    """Prices by model name: ``overrides`` first, then :data:`DEFAULT_PRICES`."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (exact name, else the longest listed prefix), or None."""
        if model in self._prices:
            return self._prices[model]
        prefixes = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        """USD for one call; 0 for a model without a price."""
        price = self.price(model)
        return 0.0 if price is None else price.cost(tokens_in, tokens_out)


def estimate_tokens(*texts: str) -> int:
    """A provider-neutral token estimate: about four characters per token, rounded up."""
    return math.ceil(sum(len(t) for t in texts) / 4)
