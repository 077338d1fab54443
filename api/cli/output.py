"""What the CLI prints: plain aligned tables for people, the service's JSON for machines.

Tables are plain text with no colour or other escape codes, so what a terminal shows is
exactly what a pipe, a file or ``grep`` gets.

>>> print(table(["model", "share"], [["a", percent(0.5)], ["bb", None]]))
model  share
-----  -----
a      50.0%
bb         -
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence

__all__ = [
    "fixed",
    "key_values",
    "percent",
    "print_json",
    "signed",
    "table",
    "usd",
    "when",
]

#: What an empty cell shows.
MISSING = "-"
#: A cell that reads as a number: ``12``, ``-0.5``, ``$0.003``, ``54.0%``, ``+3.1 pp``, ``9 ms``.
_NUMBER = re.compile(r"[+-]?\$?\d[\d,]*(\.\d+)?(e[+-]?\d+)?( ?(%|pp|ms|s))?")


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """``rows`` under ``headers``; a column of numbers (after the first) is right aligned."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [
        max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)
    ]
    right = [
        i > 0
        and all(_numeric(row[i]) or row[i] == MISSING for row in cells)
        and any(_numeric(row[i]) for row in cells)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if flush else value.ljust(width)
            for value, width, flush in zip(values, widths, right, strict=True)
        ).rstrip()

    return "\n".join(
        [line(headers), line(["-" * width for width in widths]), *(line(row) for row in cells)]
    )


def key_values(pairs: Iterable[tuple[str, object]]) -> str:
    """One ``name: value`` line per pair, the values aligned.

    >>> print(key_values([("id", "x1"), ("status", "running")]))
    id      x1
    status  running
    """
    listed = [(name, cell(value)) for name, value in pairs]
    width = max((len(name) for name, _ in listed), default=0)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in listed)


def cell(value: object) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return " ".join(f"{k}={cell(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, list | tuple | frozenset | set):
        return ",".join(cell(v) for v in value) or MISSING
    return str(value)


def percent(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def fixed(value: float | None, digits: int = 4) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3, unit: str = "") -> str | None:
    return None if value is None else f"{value:+.{digits}f}{unit}"


def usd(value: float | None) -> str | None:
    return None if value is None else f"${value:.4g}"


def when(epoch: float | None) -> str | None:
    """A time as UTC, to the second (``2026-11-30 18:53:23``)."""
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _numeric(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None
