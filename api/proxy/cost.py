"""What one provider call cost, from the tokens it reported and the model's prices."""

from __future__ import annotations

from api.proxy.provider import Usage
from domain import MAX_COST_USD, ModelSpec

__all__ = ["call_cost"]


def call_cost(model: ModelSpec, usage: Usage) -> float | None:
    """USD of one call: tokens at the model's prices (None when the provider gave no usage)."""
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    usd = (
        usage.input_tokens * model.input_usd_per_mtok
        + usage.output_tokens * model.output_usd_per_mtok
    ) / 1e6
    return min(usd, MAX_COST_USD)
