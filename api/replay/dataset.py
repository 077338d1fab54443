"""Reading replay datasets: gzip JSON Lines, one prompt per line (the README has the format)."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bandit.replay import Outcome

__all__ = ["DatasetError", "DatasetRow", "load_dataset"]


class DatasetError(ValueError):
    """The dataset file does not follow the replay format."""


@dataclass(frozen=True, slots=True)
class DatasetRow:
    id: str
    prompt: str
    source: str
    outcomes: dict[str, Outcome]
    #: Each model's answer, for the models whose row carries an optional ``response``.
    responses: dict[str, str] = field(default_factory=dict)


def load_dataset(path: Path) -> list[DatasetRow]:
    """Every row of ``path`` (``.jsonl.gz`` or plain ``.jsonl``), validated.

    Every row must score the same set of models.
    """
    opener: Any = gzip.open if path.suffix == ".gz" else open
    rows: list[DatasetRow] = []
    models: frozenset[str] | None = None
    with opener(path, "rt", encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            row = _row(line, f"{path}:{number}")
            if models is None:
                models = frozenset(row.outcomes)
            elif frozenset(row.outcomes) != models:
                raise DatasetError(
                    f"{path}:{number}: row {row.id!r} scores models {sorted(row.outcomes)}, "
                    f"but the first row scores {sorted(models)}."
                )
            rows.append(row)
    if not rows:
        raise DatasetError(f"{path} holds no rows.")
    if len({row.id for row in rows}) != len(rows):
        raise DatasetError(f"{path} repeats a prompt id.")
    return rows


def _row(line: str, where: str) -> DatasetRow:
    try:
        data = json.loads(line)
        outcomes = {
            str(model): Outcome(
                quality=_number(values["quality"], where, "quality", 0.0, 1.0),
                cost_usd=_number(values["cost_usd"], where, "cost_usd", 0.0, math.inf),
                latency_s=None
                if values.get("latency_s") is None
                else _number(values["latency_s"], where, "latency_s", 0.0, math.inf),
            )
            for model, values in data["models"].items()
        }
        if not outcomes:
            raise DatasetError(f"{where}: the row scores no model.")
        responses = {}
        for model, values in data["models"].items():
            response = values.get("response")
            if response is None:
                continue
            if not isinstance(response, str):
                raise DatasetError(
                    f"{where}: the response of model {model!r} must be text, got {response!r}."
                )
            responses[str(model)] = response
        return DatasetRow(
            id=str(data["id"]),
            prompt=str(data["prompt"]),
            source=str(data.get("source") or ""),
            outcomes=outcomes,
            responses=responses,
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise DatasetError(f"{where}: not a replay row ({error!r}).") from error


def _number(value: Any, where: str, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DatasetError(f"{where}: {name} must be a number, got {value!r}.")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise DatasetError(f"{where}: {name} {number!r} is outside [{low}, {high}].")
    return number
